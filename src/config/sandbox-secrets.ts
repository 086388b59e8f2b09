import { generateKeyPairSync, randomBytes } from 'node:crypto';
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
  /** The sandbox FaceID's API credentials (Tencent Cloud SecretId/SecretKey shape); added later like the CA key. */
  faceidSecretId: string;
  faceidSecretKey: string;
  /** PII vault keys for the embedded default: `id:base64` and base64 of 32 bytes. */
  piiEncryptionKey: string;
  piiHmacKey: string;
  /** The sandbox merchant (商户号, API certificate serial, private key PEM, APIv3 key). Added later, like the CA key. */
  wechatPayMchId: string;
  wechatPayMerchantSerialNo: string;
  wechatPayMerchantPrivateKey: string;
  wechatPayApiV3Key: string;
  /** The sandbox WeChat Pay's own signing key (PKCS#8 PEM) and the 微信支付公钥 ID it signs under. */
  wechatPayPlatformPrivateKey: string;
  wechatPayPublicKeyId: string;
}

const rsaPrivateKeyPem = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * One generator per secret, so a file from an older version gets only what it lacks: the two RSA keys are the
 * slow part of start-up and must not be made again on every start just to be thrown away.
 */
const GENERATORS: { [K in keyof SandboxSecrets]: () => SandboxSecrets[K] } = {
  wechatAppId: () => `wx${randomToken(cryptoRandom, 16, LOWER_ALNUM)}`,
  wechatAppSecret: () => randomToken(cryptoRandom, 32),
  wechatToken: () => randomToken(cryptoRandom, 32),
  wechatEncodingAesKey: () => randomToken(cryptoRandom, 43),
  sessionSecret: () => randomBytes(32).toString('base64url'),
  caKeyEncryptionKey: () => randomBytes(32).toString('base64'),
  faceidSecretId: () => `AKIDsandbox${randomToken(cryptoRandom, 25)}`,
  faceidSecretKey: () => randomToken(cryptoRandom, 32),
  piiEncryptionKey: () => `s1:${randomBytes(32).toString('base64')}`,
  piiHmacKey: () => randomBytes(32).toString('base64'),
  wechatPayMchId: () => `19${randomToken(cryptoRandom, 8, '0123456789')}`,
  wechatPayMerchantSerialNo: () => randomBytes(20).toString('hex').toUpperCase(),
  wechatPayMerchantPrivateKey: rsaPrivateKeyPem,
  wechatPayApiV3Key: () => randomToken(cryptoRandom, 32),
  wechatPayPlatformPrivateKey: rsaPrivateKeyPem,
  wechatPayPublicKeyId: () => `PUB_KEY_ID_01${randomToken(cryptoRandom, 28, '0123456789')}`,
};

/** Fills in every secret `existing` lacks. */
function completeSecrets(existing: Partial<SandboxSecrets>): SandboxSecrets {
  const out: Record<string, string> = { ...existing } as Record<string, string>;
  for (const [name, make] of Object.entries(GENERATORS)) out[name] ??= make();
  return out as unknown as SandboxSecrets;
}

export function generateSandboxSecrets(): SandboxSecrets {
  return completeSecrets({});
}

export function ensureSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = join(dataDir, 'sandbox-secrets.json');
  mkdirSync(dataDir, { recursive: true });
  const existing = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxSecrets> : {};
  // Keep what exists (changing it would orphan sessions and the CA's keys); fill in what a newer version added.
  const secrets = completeSecrets(existing);
  if (Object.keys(GENERATORS).every((k) => k in existing)) return secrets;
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
