import { type SandboxSecrets } from '../../config/sandbox-secrets';
import { type Settings } from '../../config/settings';
import { parsePiiKeys } from './vault';

/** Strings only: the configuration is deep-frozen, and a Buffer cannot be. */
export interface PiiConfig {
  /** `id:base64[,id:base64…]`, the first key active (validated here, parsed again by the vault). */
  encryptionKeys: string;
  hmacKey: string;
}

/**
 * The keys live in settings (the environment, a secret store), never in the database. Production demands its
 * own; elsewhere the sandbox secrets in DATA_DIR supply them, unless given.
 */
export function buildPiiConfig(settings: Settings, sandbox: SandboxSecrets | undefined): { config?: PiiConfig; problems: string[] } {
  const isProduction = settings.APP_ENV === 'production';
  const problems: string[] = [];
  const encryptionKeys = settings.PII_ENCRYPTION_KEY ?? (isProduction ? undefined : sandbox?.piiEncryptionKey);
  const hmacKey = settings.PII_HMAC_KEY ?? (isProduction ? undefined : sandbox?.piiHmacKey);
  if (encryptionKeys === undefined) problems.push(`PII_ENCRYPTION_KEY: required${isProduction ? ' when APP_ENV=production' : ''} (id:base64 of 32 bytes, e.g. k1:…)`);
  else {
    try {
      parsePiiKeys(encryptionKeys);
    } catch (err) {
      problems.push(`PII_ENCRYPTION_KEY: ${(err as Error).message}`);
    }
  }
  if (hmacKey === undefined) problems.push(`PII_HMAC_KEY: required${isProduction ? ' when APP_ENV=production' : ''} (base64 of at least 32 bytes)`);
  if (problems.length) return { problems };
  return { problems, config: { encryptionKeys: encryptionKeys!, hmacKey: hmacKey! } };
}
