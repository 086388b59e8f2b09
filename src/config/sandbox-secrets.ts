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
}

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function generateSandboxSecrets(): SandboxSecrets {
  return {
    wechatAppId: `wx${randomToken(cryptoRandom, 16, LOWER_ALNUM)}`,
    wechatAppSecret: randomToken(cryptoRandom, 32),
    wechatToken: randomToken(cryptoRandom, 32),
    wechatEncodingAesKey: randomToken(cryptoRandom, 43),
    sessionSecret: randomBytes(32).toString('base64url'),
  };
}

export function ensureSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = join(dataDir, 'sandbox-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SandboxSecrets;
  mkdirSync(dataDir, { recursive: true });
  const secrets = generateSandboxSecrets();
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
