import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Secrets the sandbox invents on first start and keeps, so restarts keep sessions and the simulator working. */
export interface SandboxSecrets {
  wechatAppId: string;
  wechatAppSecret: string;
  wechatToken: string;
  wechatEncodingAesKey: string;
  sessionSecret: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlnum(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  // Rejection sampling keeps the alphabet uniform (256 is not a multiple of 62).
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    if (bytes[i] < 248) out += ALNUM[bytes[i] % 62];
  }
  return out.length === length ? out : out + randomAlnum(length - out.length);
}

export function generateSandboxSecrets(): SandboxSecrets {
  return {
    wechatAppId: `wx${randomAlnum(16).toLowerCase()}`,
    wechatAppSecret: randomAlnum(32),
    wechatToken: randomAlnum(32),
    wechatEncodingAesKey: randomAlnum(43),
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
