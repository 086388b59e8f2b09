import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type Context, IN_PRODUCTION, S } from './sections';

/**
 * PC renewal: the grace period before a superseded certificate is revoked, and the audit chain's signing key and
 * export folder. The audit key is an Ed25519 seed (32 bytes, base64); outside production it is derived from the
 * sandbox session secret when not given, so the embedded default works out of the box.
 */
export function renewalsSection(c: Context) {
  return z.object(S).transform((s, ctx) => {
    let auditKeySeed = s.RENEWAL_AUDIT_KEY ? Buffer.from(s.RENEWAL_AUDIT_KEY, 'base64') : undefined;
    if (!auditKeySeed && !c.isProduction) {
      const secret = s.SESSION_SECRET ?? c.sandbox?.sessionSecret ?? 'development-only-renewal-audit';
      auditKeySeed = createHmac('sha256', secret).update('renewal-audit-key/1').digest();
    }
    if (!auditKeySeed) {
      ctx.issues.push({ code: 'custom', path: ['RENEWAL_AUDIT_KEY'], message: IN_PRODUCTION, input: undefined });
      return z.NEVER;
    }
    return {
      /** Days between INSTALLED and revoking the superseded certificate(s) with reason superseded. */
      supersededGraceDays: s.RENEWAL_SUPERSEDED_GRACE_DAYS,
      auditKeySeed: auditKeySeed.toString('base64'),
      /** A folder the database's writers cannot write: the signed chain head is exported there daily. */
      auditExportDir: resolve(s.RENEWAL_AUDIT_EXPORT_DIR ?? resolve(s.DATA_DIR, 'audit')),
    };
  });
}
export type RenewalsConfig = z.output<ReturnType<typeof renewalsSection>>;
