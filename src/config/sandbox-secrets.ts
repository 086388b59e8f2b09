import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cryptoRandom, randomToken } from '../lib/clock';

/** Secrets the sandbox invents on first start and keeps, so restarts keep sessions and the simulator working. */
export interface SandboxSecrets {
  wechatAppId: string;
  wechatAppSecret: string;
  wechatToken: string;
  wechatEncodingAesKey: string;
  sessionSecret: string;
  /** Encrypts the built-in CA's private keys (base64, 32 bytes). Added later: old files get it on next start. */
  caKeyEncryptionKey: string;
}

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function generateSandboxSecrets(): SandboxSecrets {
  return {
    wechatAppId: `wx${randomToken(cryptoRandom, 16, LOWER_ALNUM)}`,
    wechatAppSecret: randomToken(cryptoRandom, 32),
    wechatToken: randomToken(cryptoRandom, 32),
    wechatEncodingAesKey: randomToken(cryptoRandom, 43),
    sessionSecret: randomBytes(32).toString('base64url'),
    caKeyEncryptionKey: randomBytes(32).toString('base64'),
  };
}

export function ensureSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = join(dataDir, 'sandbox-secrets.json');
  mkdirSync(dataDir, { recursive: true });
  const existing = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxSecrets> : {};
  // Keep what exists (changing it would orphan sessions and the CA's keys); fill in what a newer version added.
  const secrets = { ...generateSandboxSecrets(), ...existing };
  if (Object.keys(existing).length === Object.keys(secrets).length) return secrets;
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
