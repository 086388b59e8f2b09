import { type Logger } from '../logger';
import { type PiiConfig } from './config';
import { logAuditHook, parsePiiKeys, type PiiAuditHook, PiiVault } from './vault';

export const ID_NUMBER_PURPOSE = 'id-number';

/** The vault from validated config; every decrypt is logged (who, why, which record), never the value. */
export function createPiiVault(config: PiiConfig, deps: { logger: Logger; nowMs: () => number; audit?: PiiAuditHook }): PiiVault {
  return new PiiVault(parsePiiKeys(config.encryptionKeys), Buffer.from(config.hmacKey, 'base64'), deps.audit ?? logAuditHook(deps.logger), deps.nowMs);
}
