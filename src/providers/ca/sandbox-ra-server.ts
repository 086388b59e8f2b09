import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { RA_HEADERS, raCanonicalString, raSignature } from './ra';
import { CaError, type CaErrorCode, type CertificateAuthority, type IssueRequest, REVOCATION_REASONS, type RevocationReason } from './types';

/**
 * A sandbox RA speaking docs/ra-interface.md in front of any CertificateAuthority (the built-in CA), so the
 * RA client is exercised over real HTTP: signature, timestamp window, nonce replay, error codes. It is the
 * reference for what the client expects, not a production RA (nonces are kept in memory, one process).
 */
export interface SandboxRaOptions {
  ca: CertificateAuthority;
  /** clientId → secret */
  clients: Record<string, string>;
  clock: Clock;
  logger: Logger;
  /** Accepted clock difference, seconds (default 300). */
  windowSeconds?: number;
}

const WIRE_CODES: Record<CaErrorCode, { status: number; code: string }> = {
  'bad-csr': { status: 422, code: 'BAD_CSR' },
  'unsupported-key': { status: 422, code: 'UNSUPPORTED_KEY' },
  'invalid-request': { status: 400, code: 'INVALID_REQUEST' },
  'request-conflict': { status: 409, code: 'REQUEST_CONFLICT' },
  'unknown-serial': { status: 404, code: 'UNKNOWN_SERIAL' },
  rejected: { status: 422, code: 'REJECTED' },
  unauthorized: { status: 401, code: 'UNAUTHORIZED' },
  unavailable: { status: 503, code: 'UNAVAILABLE' },
  protocol: { status: 502, code: 'UPSTREAM_PROTOCOL' },
};

const MAX_BODY = '64kb';

class WireError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function createSandboxRaApp(opts: SandboxRaOptions): Koa {
  const window = opts.windowSeconds ?? 300;
  const seenNonces = new Map<string, number>(); // nonce → expiry (ms)

  const app = new Koa();
  const router = new Router();

  app.use(async (ctx, next) => {
    try {
      const raw = await getRawBody(ctx.req, { limit: MAX_BODY });
      authenticate(ctx.method, ctx.originalUrl, ctx.headers, raw);
      ctx.state.body = raw.length ? parseJson(raw) : {};
      await next();
    } catch (err) {
      const e = err instanceof CaError ? new WireError(WIRE_CODES[err.code].status, WIRE_CODES[err.code].code, err.message) : err;
      if (!(e instanceof WireError)) {
        opts.logger.error({ err }, 'sandbox RA failed');
        ctx.status = 500;
        ctx.body = { code: 'INTERNAL', message: 'internal error' };
        return;
      }
      ctx.status = e.status;
      ctx.body = { code: e.code, message: e.message };
    }
  });

  function authenticate(method: string, url: string, headers: Record<string, string | string[] | undefined>, raw: Buffer): void {
    const h = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : '');
    const clientId = h(RA_HEADERS.clientId);
    const secret = opts.clients[clientId];
    if (!secret) throw new WireError(401, 'UNAUTHORIZED', 'unknown client id');
    const timestamp = h(RA_HEADERS.timestamp);
    const now = Math.floor(opts.clock.nowMs() / 1000);
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > window) throw new WireError(401, 'UNAUTHORIZED', 'timestamp outside the accepted window');
    const nonce = h(RA_HEADERS.nonce);
    if (!/^[0-9a-f]{32}$/.test(nonce)) throw new WireError(401, 'UNAUTHORIZED', 'nonce must be 32 hex characters');
    const expected = Buffer.from(raSignature(secret, raCanonicalString(method, url, timestamp, nonce, raw)));
    const given = Buffer.from(h(RA_HEADERS.signature));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new WireError(401, 'UNAUTHORIZED', 'bad signature');
    // Checked after the signature, so nobody can burn a client's nonces with unsigned requests.
    for (const [n, exp] of seenNonces) if (exp < opts.clock.nowMs()) seenNonces.delete(n);
    if (seenNonces.has(nonce)) throw new WireError(401, 'UNAUTHORIZED', 'nonce already used');
    seenNonces.set(nonce, opts.clock.nowMs() + 2 * window * 1000);
  }

  router.post('/certificates', async (ctx) => {
    const issued = await opts.ca.issue(toIssueRequest(ctx.state.body, ctx.get(RA_HEADERS.idempotencyKey)));
    ctx.body = { ...issued, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString() };
  });

  router.post('/certificates/:serial/revoke', async (ctx) => {
    const reason = (ctx.state.body as { reason?: unknown }).reason;
    if (!(REVOCATION_REASONS as readonly string[]).includes(reason as string)) throw new WireError(400, 'INVALID_REQUEST', `reason must be one of ${REVOCATION_REASONS.join(', ')}`);
    await opts.ca.revoke(ctx.params.serial, reason as RevocationReason);
    ctx.body = {};
  });

  router.get('/certificates/:serial/status', async (ctx) => {
    const s = await opts.ca.status(ctx.params.serial);
    ctx.body = { status: s.status, revokedAt: s.revokedAt?.toISOString(), reason: s.reason };
  });

  router.get('/trust-anchors', async (ctx) => {
    ctx.body = await opts.ca.trustAnchors();
  });

  app.use(router.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { code: 'NOT_FOUND', message: `no endpoint ${ctx.method} ${ctx.path}` };
  });
  return app;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new WireError(400, 'INVALID_REQUEST', 'body is not JSON');
  }
}

function toIssueRequest(body: unknown, idempotencyKey: string): IssueRequest {
  // `any` on purpose: every field is checked below before it is used.
  const b = (body ?? {}) as Record<string, any>;
  const bad = (what: string): never => {
    throw new WireError(400, 'INVALID_REQUEST', what);
  };
  if (typeof b.requestId !== 'string' || !/^[\w.:-]{1,128}$/.test(b.requestId)) bad('requestId: 1-128 characters [A-Za-z0-9_.:-]');
  if (idempotencyKey && idempotencyKey !== b.requestId) bad('Idempotency-Key differs from requestId');
  if (typeof b.csr !== 'string') bad('csr: PEM string required');
  if (!b.subject || typeof b.subject !== 'object') bad('subject: object required');
  const p = b.profile ?? {};
  if (typeof p.project !== 'string' || typeof p.certType !== 'string' || (p.usage !== 'sign' && p.usage !== 'encrypt')) bad('profile: project, certType, usage (sign|encrypt) required');
  const notBefore = new Date(b.validity?.notBefore);
  const notAfter = new Date(b.validity?.notAfter);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) bad('validity: notBefore and notAfter must be ISO dates');
  const ek = b.encryptionKey;
  if (ek !== undefined && (typeof ek?.requestId !== 'string' || !/^[\w.:-]{1,120}$/.test(ek.requestId))) bad('encryptionKey.requestId: 1-120 characters [A-Za-z0-9_.:-]');
  if (b.replacesSerial !== undefined && (typeof b.replacesSerial !== 'string' || !/^[0-9a-fA-F]{1,64}$/.test(b.replacesSerial))) bad('replacesSerial: 1-64 hex digits');
  return {
    requestId: b.requestId,
    csrPem: b.csr,
    subject: b.subject,
    profile: { project: p.project, certType: p.certType, usage: p.usage },
    validity: { notBefore, notAfter },
    mediaSerial: typeof b.mediaSerial === 'string' ? b.mediaSerial : undefined,
    encryptionKey: ek === undefined ? undefined : { requestId: ek.requestId },
    replacesSerial: b.replacesSerial,
  };
}
