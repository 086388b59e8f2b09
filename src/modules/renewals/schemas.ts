import { z } from 'zod';
import { certificatePem, mediaSerial } from '../capc/schemas';
import { AppError } from '../../lib/errors';

/** Inputs of the renewal JSON API (docs/renewal.md), with the /capc/ API's PEM and 介质编号 rules. */
const PEM_CSR = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END (NEW )?CERTIFICATE REQUEST-----\s*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const csrPem = z.string().trim().max(12_000, '证书请求过长').regex(PEM_CSR, '证书请求格式不正确（需 PEM 格式）');

export const lookupInput = z.object({ certificatePem }).strict();
/**
 * resumeChallenge: the unused challenge this tab already holds (the page keeps it per tab): with it, the same tab may
 * renew its own lease at once; without it, a second tab of the same browser is told the renewal is running.
 */
export const startInput = z.object({ certificatePem, mediaSerial, resumeChallenge: z.string().regex(/^[A-Za-z0-9+/]{43}=$/).optional() }).strict();
export const popMessageInput = z.object({ csrPem }).strict();
export const csrInput = z.object({
  csrPem,
  keyId: z.string().trim().min(1, '密钥标识不正确').max(128, '密钥标识不正确').regex(/^[A-Za-z0-9_.:-]+$/, '密钥标识不正确'),
  popSignatureBase64: z.string().trim().min(16, '签名不正确').max(1024, '签名不正确').regex(BASE64, '签名不正确'),
}).strict();
export const installedInput = z.object({ serialHex: z.string().trim().min(1).max(64).regex(/^[0-9A-Fa-f:]+$/, '证书序列号不正确') }).strict();
export const emptyInput = z.object({}).strict();

/** The API's stable error codes (docs/renewal.md); `message` is what the page shows. */
export type RenewalErrorCode =
  | 'RENEWAL_RUNNING' | 'NOT_ENTITLED' | 'TRANSFER_WAITING' | 'ALREADY_RENEWED' | 'CERT_REVOKED' | 'OUTSIDE_WINDOW' | 'CERT_UNKNOWN' | 'CERT_UNTRUSTED'
  | 'CHALLENGE_EXPIRED' | 'POP_INVALID' | 'CSR_INVALID' | 'CA_UNAVAILABLE' | 'CA_REFUSED' | 'RENEWAL_NOT_FOUND' | 'SERIAL_UNKNOWN' | 'CSR_REPLACED';

const STATUS: Record<RenewalErrorCode, number> = {
  RENEWAL_RUNNING: 409, NOT_ENTITLED: 402, TRANSFER_WAITING: 409, ALREADY_RENEWED: 409, CERT_REVOKED: 403, OUTSIDE_WINDOW: 403, CERT_UNKNOWN: 404,
  CERT_UNTRUSTED: 403, CHALLENGE_EXPIRED: 400, POP_INVALID: 400, CSR_INVALID: 400, CA_UNAVAILABLE: 503, CA_REFUSED: 502, RENEWAL_NOT_FOUND: 404,
  SERIAL_UNKNOWN: 404, CSR_REPLACED: 409,
};

export class RenewalError extends AppError {
  readonly status: number;
  constructor(readonly code: RenewalErrorCode, userMessage: string, detail: string, options?: { cause?: unknown }) {
    super(userMessage, detail, options);
    this.status = STATUS[code];
  }
}
