import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { classifyBundle } from '../../lib/pki/trust-store';
import {
  CaError, type CaErrorCode, type CertificateAuthority, type CertificateStatus, type IssuedCertificate, type IssueRequest, type RevocationReason,
} from './types';

/**
 * The real CA, reached through its RA over the protocol of docs/ra-interface.md: JSON over HTTPS, each request
 * signed with HMAC-SHA256 (client id, timestamp, nonce, body hash), issuance idempotent by requestId. Every
 * failure is a CaError whose code says whether a retry (same requestId) can help.
 */
export interface RaClientOptions {
  baseUrl: string;
  clientId: string;
  secret: string;
  clock: Clock;
  logger: Logger;
  /** CA_TRUSTED_ROOTS_FILE: what trustAnchors() reports (the RA is not asked at start, or ever, for anchors). */
  trustedRootsFile?: string;
  /** Per request; issuance may wait on the CA's HSM, so it gets longer. */
  timeoutMs?: number;
  issueTimeoutMs?: number;
  /** Refuse plain http (production). */
  requireHttps?: boolean;
}

export const RA_HEADERS = {
  clientId: 'x-ra-client-id',
  timestamp: 'x-ra-timestamp',
  nonce: 'x-ra-nonce',
  signature: 'x-ra-signature',
  idempotencyKey: 'idempotency-key',
} as const;

/** The signed string: METHOD \n path?query \n timestamp \n nonce \n hex(SHA-256(body)). Shared with the sandbox RA server. */
export function raCanonicalString(method: string, pathAndQuery: string, timestamp: string, nonce: string, body: string | Uint8Array): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return [method.toUpperCase(), pathAndQuery, timestamp, nonce, bodyHash].join('\n');
}

export function raSignature(secret: string, canonical: string): string {
  return createHmac('sha256', secret).update(canonical).digest('base64');
}

/** RA error codes (response body `code`) → ours. Unknown codes on a 4xx are business refusals. */
const RA_CODES: Record<string, CaErrorCode> = {
  BAD_CSR: 'bad-csr',
  UNSUPPORTED_KEY: 'unsupported-key',
  INVALID_REQUEST: 'invalid-request',
  REQUEST_CONFLICT: 'request-conflict',
  UNKNOWN_SERIAL: 'unknown-serial',
  UNAUTHORIZED: 'unauthorized',
  REJECTED: 'rejected',
};

interface WireIssued {
  serialHex: string;
  certificatePem: string;
  chainPem: string[];
  notBefore: string;
  notAfter: string;
  encryptionPair?: { certificatePem: string; envelopedKeyBase64: string };
}

export class RaCertificateAuthority implements CertificateAuthority {
  readonly mode = 'ra' as const;
  private readonly base: URL;

  constructor(private readonly opts: RaClientOptions) {
    this.base = new URL(opts.baseUrl.replace(/\/*$/, '/'));
    if (opts.requireHttps && this.base.protocol !== 'https:') throw new Error('CA_RA_BASE_URL: must be https:// in production');
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const body = {
      requestId: request.requestId,
      csr: request.csrPem,
      subject: request.subject,
      profile: request.profile,
      validity: { notBefore: request.validity.notBefore.toISOString(), notAfter: request.validity.notAfter.toISOString() },
      mediaSerial: request.mediaSerial,
      encryptionKey: request.encryptionKey,
      replacesSerial: request.replacesSerial,
    };
    const res = await this.call<WireIssued>('POST', 'certificates', body, { idempotencyKey: request.requestId, timeoutMs: this.opts.issueTimeoutMs ?? 30_000 });
    if (typeof res?.serialHex !== 'string' || typeof res.certificatePem !== 'string' || !Array.isArray(res.chainPem)) {
      throw new CaError('protocol', 'RA issue: response lacks serialHex, certificatePem or chainPem');
    }
    const pair = res.encryptionPair;
    if (pair !== undefined && (typeof pair?.certificatePem !== 'string' || typeof pair.envelopedKeyBase64 !== 'string')) {
      throw new CaError('protocol', 'RA issue: encryptionPair lacks certificatePem or envelopedKeyBase64');
    }
    if (request.encryptionKey && !pair) throw new CaError('protocol', 'RA issue: an encryption pair was asked for and none came back');
    return {
      serialHex: res.serialHex.toLowerCase(),
      certificatePem: res.certificatePem,
      chainPem: res.chainPem,
      notBefore: wireDate(res.notBefore, 'notBefore'),
      notAfter: wireDate(res.notAfter, 'notAfter'),
      encryptionPair: pair && { certificatePem: pair.certificatePem, envelopedKeyBase64: pair.envelopedKeyBase64 },
    };
  }

  async revoke(serialHex: string, reason: RevocationReason): Promise<void> {
    await this.call('POST', `certificates/${encodeURIComponent(serialHex.toLowerCase())}/revoke`, { reason });
  }

  async status(serialHex: string): Promise<CertificateStatus> {
    const res = await this.call<{ status: string; revokedAt?: string; reason?: RevocationReason }>('GET', `certificates/${encodeURIComponent(serialHex.toLowerCase())}/status`);
    if (res?.status !== 'good' && res?.status !== 'revoked' && res?.status !== 'unknown') throw new CaError('protocol', `RA status: unexpected status ${JSON.stringify(res?.status)}`);
    if (res.status !== 'revoked') return { status: res.status };
    return { status: 'revoked', revokedAt: res.revokedAt ? wireDate(res.revokedAt, 'revokedAt') : undefined, reason: res.reason };
  }

  /** From CA_TRUSTED_ROOTS_FILE: the anchors are configuration, not something the RA tells us. */
  async trustAnchors(): Promise<{ roots: string[]; intermediates: string[] }> {
    if (!this.opts.trustedRootsFile) return { roots: [], intermediates: [] };
    const { roots, intermediates } = classifyBundle(await readFile(this.opts.trustedRootsFile, 'utf8'), `CA_TRUSTED_ROOTS_FILE ${this.opts.trustedRootsFile}`);
    return { roots: roots.map((c) => c.pem), intermediates: intermediates.map((c) => c.pem) };
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, extra: { idempotencyKey?: string; timeoutMs?: number } = {}): Promise<T> {
    const url = new URL(path, this.base);
    const text = body === undefined ? '' : JSON.stringify(body);
    const timestamp = String(Math.floor(this.opts.clock.nowMs() / 1000));
    const nonce = randomBytes(16).toString('hex');
    const headers: Record<string, string> = {
      accept: 'application/json',
      [RA_HEADERS.clientId]: this.opts.clientId,
      [RA_HEADERS.timestamp]: timestamp,
      [RA_HEADERS.nonce]: nonce,
      [RA_HEADERS.signature]: raSignature(this.opts.secret, raCanonicalString(method, url.pathname + url.search, timestamp, nonce, text)),
    };
    if (body !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
    if (extra.idempotencyKey) headers[RA_HEADERS.idempotencyKey] = extra.idempotencyKey;
    const what = `RA ${method} /${path}`;
    const started = Date.now();

    let res: Response;
    let payload: string;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : text, signal: AbortSignal.timeout(extra.timeoutMs ?? this.opts.timeoutMs ?? 10_000) });
      payload = await res.text();
    } catch (err) {
      const e = err as Error;
      const reason = e.name === 'TimeoutError' ? 'timed out' : `${e.message}${(e.cause as Error | undefined)?.message ? ` (${(e.cause as Error).message})` : ''}`;
      this.opts.logger.warn({ method, path, ms: Date.now() - started }, `${what}: ${reason}`);
      throw new CaError('unavailable', `${what}: ${reason}`, undefined, { cause: err });
    }
    this.opts.logger.debug({ method, path, status: res.status, ms: Date.now() - started }, 'RA call');
    let json: unknown;
    try {
      json = payload ? JSON.parse(payload) : undefined;
    } catch {
      if (res.ok) throw new CaError('protocol', `${what}: response is not JSON (HTTP ${res.status})`);
    }
    if (res.ok) return json as T;
    throw errorFromResponse(what, res.status, json);
  }
}

function errorFromResponse(what: string, status: number, json: unknown): CaError {
  const body = (json && typeof json === 'object' ? json : {}) as { code?: unknown; message?: unknown };
  const upstream = typeof body.code === 'string' ? body.code : undefined;
  const message = `${what}: HTTP ${status}${upstream ? ` ${upstream}` : ''}${typeof body.message === 'string' ? `: ${body.message.slice(0, 300)}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) return new CaError('unavailable', message, upstream);
  if (status === 401 || status === 403) return new CaError('unauthorized', message, upstream);
  // A 404 without our code is a wrong CA_RA_BASE_URL or API version, not an unknown certificate.
  return new CaError((upstream && RA_CODES[upstream]) || (status === 404 ? 'protocol' : 'rejected'), message, upstream);
}

function wireDate(value: unknown, field: string): Date {
  const d = typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new CaError('protocol', `RA response: ${field} is not an ISO date`);
  return d;
}
