import { createHash } from 'node:crypto';
import { type Random } from '../../lib/clock';
import { type PiiVault } from '../../lib/pii/vault';

/**
 * Invoice link tokens (/i/<token>): 24 random bytes (192 bits) in base64url, 32 characters. Nothing in the token
 * names the invoice or the buyer, so it works in any browser without a session, and guessing one is hopeless. The
 * database keeps its SHA-256 for the lookup (a copy of the table opens nothing) and the token sealed for the
 * owner's detail page; revoking marks the row, and a revoked or unknown token is the same plain 404.
 */
export const LINK_TOKEN = /^[A-Za-z0-9_-]{32}$/;
const LINK_PURPOSE = 'invoice-link';

export function newLinkToken(random: Random): string {
  return random.bytes(24).toString('base64url');
}

export const linkTokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export function sealLinkToken(pii: PiiVault, token: string): string {
  return pii.encrypt(token, LINK_PURPOSE);
}

export function openLinkToken(pii: PiiVault, sealed: string, actor: string): string {
  return pii.decrypt(sealed, LINK_PURPOSE, { actor, reason: 'invoice-link-show' });
}
