import { parsePiiKeys } from './vault';

/** Strings only: the configuration is deep-frozen, and a Buffer cannot be. */
export interface PiiConfig {
  /** `id:base64[,id:base64…]`, the first key active (validated here, parsed again by the vault). */
  encryptionKeys: string;
  hmacKey: string;
}

/**
 * Checks the vault's keys as given (PII_ENCRYPTION_KEY, PII_HMAC_KEY, or the sandbox's outside production: the
 * caller decides which). The keys live in settings (the environment, a secret store), never in the database.
 */
export function buildPiiConfig(keys: Partial<PiiConfig>, isProduction: boolean): { config?: PiiConfig; problems: string[] } {
  const problems: string[] = [];
  const { encryptionKeys, hmacKey } = keys;
  if (encryptionKeys === undefined) problems.push(`PII_ENCRYPTION_KEY: required${isProduction ? ' when APP_ENV=production' : ''} (id:base64 of 32 bytes, e.g. k1:…)`);
  else {
    try {
      parsePiiKeys(encryptionKeys);
    } catch (err) {
      problems.push(`PII_ENCRYPTION_KEY: ${(err as Error).message}`);
    }
  }
  if (hmacKey === undefined) problems.push(`PII_HMAC_KEY: required${isProduction ? ' when APP_ENV=production' : ''} (base64 of at least 32 bytes)`);
  if (problems.length || encryptionKeys === undefined || hmacKey === undefined) return { problems };
  return { problems, config: { encryptionKeys, hmacKey } };
}
