import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Koa from 'koa';
import request from 'supertest';
import { type Deps } from '../../src/deps';
import { SoftTokenBackend } from '../../src/key-agent/backends/soft-token';
import { inTransaction } from '../../src/lib/db/transaction';
import { type KeyAlgorithm } from '../../src/lib/pki/types';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate } from '../../src/modules/certificates/entities';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { type OrderWithLines } from '../../src/modules/orders/repository';
import { OrderService } from '../../src/modules/orders/service';
import { ensurePcSession } from '../../src/modules/renewals/pc-session';
import { verifyHandler } from './handlers';
import { createTokenWithCertificate, type SoftTokenFixture } from './pki-fixtures';

const DAY = 86_400_000;
let seq = 0;

/**
 * The PC side of a renewal in tests: a soft token (the key agent's own backend, called in-process) holding a
 * certificate issued by the app's CA, known and bound to a handler, optionally with a paid renewal order, and a
 * PC page session (`cam.pc`) to drive the JSON API with.
 */
export interface RenewalFixture {
  token: SoftTokenFixture;
  backend: SoftTokenBackend;
  cert: Certificate;
  openid: string;
  order?: OrderWithLines;
}

export async function renewalFixture(deps: Deps, opts: { algorithm?: KeyAlgorithm; days?: number; years?: number; pay?: 'wechatpay' | 'transfer' | false; at?: Date; openid?: string } = {}): Promise<RenewalFixture> {
  const n = ++seq;
  const dir = mkdtempSync(join(tmpdir(), 'renewal-token-'));
  const at = opts.at ?? new Date(deps.clock.nowMs());
  const token = await createTokenWithCertificate(deps.ca, {
    dir, algorithm: opts.algorithm ?? 'RSA-2048', organization: `梅州续期测试单位${process.pid}-${n}-${Date.now() % 1e6}`,
    notBefore: new Date(at.getTime() - 300 * DAY), notAfter: new Date(at.getTime() + (opts.days ?? 30) * DAY),
  });
  const cert = await certificateServiceFor(deps).acceptPresented({ pem: token.certificatePem, mediaSerial: token.mediaSerial, at });
  const openid = opts.openid ?? `oRenew${process.pid}x${n}x${Date.now() % 1e6}`;
  await inTransaction(deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: false }, at));
  await verifyHandler(deps, openid);
  const fixture: RenewalFixture = { token, backend: new SoftTokenBackend(dir), cert, openid };
  if (opts.pay !== false) {
    const orders = new OrderService(deps);
    const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: opts.years ?? 1 }], at });
    if (opts.pay === 'transfer') await orders.choosePaymentMethod(order.orderNo, openid, 'transfer', at);
    else await orders.markPaid(order.orderNo, { method: 'wechatpay', amountFen: order.totalFen, transactionId: `4200${order.orderNo.slice(-12)}`, paidAt: at });
    fixture.order = order;
  }
  return fixture;
}

/** Mounts a tiny route that opens a PC session (the page route does this in the app: renew-page's module). */
export function withPcSessionRoute(app: Koa, deps: Deps): void {
  app.use(async (ctx, next) => {
    if (ctx.path !== '/__test/pc-session') return next();
    const session = await ensurePcSession(ctx, deps);
    ctx.body = { csrf: session.csrf };
  });
}

export interface PcPage {
  post(path: string, body: unknown): request.Test;
  /** The unused challenge this tab holds (the page keeps it in sessionStorage, per tab). */
  held?: string;
}

/** A browser tab of the PC page: its own cookie jar, the CSRF token on every API call. */
export async function pcPage(app: Koa): Promise<PcPage> {
  const agent = request.agent(app.callback());
  const res = await agent.get('/__test/pc-session');
  if (res.status !== 200) throw new Error(`PC session route answered ${res.status}`);
  const csrf = res.body.csrf as string;
  return { post: (path, body) => agent.post(`/gdca-page/api${path}`).set('Content-Type', 'application/json').set('X-CSRF-Token', csrf).send(JSON.stringify(body)) };
}

/** A second tab of the same browser (same cookie, same CSRF token). */
export function sameBrowser(page: PcPage): PcPage {
  return { post: page.post };
}

/**
 * The page's whole renewal with a real soft token: start, keygen.csr on the token, pop-message, sign with the
 * OLD certificate's key on the token, csr. Returns the server's answers and the new key's id.
 */
export async function renewUpToIssued(page: PcPage, f: RenewalFixture) {
  const started = await page.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial, ...(page.held ? { resumeChallenge: page.held } : {}) });
  if (started.status !== 200) return { started, issued: undefined, keyId: undefined };
  const { renewalId, keyAlgorithm, subject, challengeBase64 } = started.body;
  page.held = challengeBase64;
  const { keyId, csrPem } = await f.backend.keygenCsr(f.token.mediaSerial, f.token.pin, keyAlgorithm, subject);
  const message = await page.post(`/renewals/${renewalId}/pop-message`, { csrPem });
  const { signature } = await f.backend.sign(f.token.mediaSerial, f.token.pin, f.token.certificateId, Buffer.from(message.body.messageBase64, 'base64'));
  const issued = await page.post(`/renewals/${renewalId}/csr`, { csrPem, keyId, popSignatureBase64: Buffer.from(signature).toString('base64') });
  return { started, issued, keyId, csrPem, renewalId: renewalId as number, challengeBase64: challengeBase64 as string, signature };
}

/** cert.install + cert.confirm on the token, then `installed` to the server. */
export async function installOnToken(page: PcPage, f: RenewalFixture, renewalId: number, keyId: string, issued: { certificatePem: string; serialHex: string; encryptionPair?: { certificatePem: string; envelopedKeyBase64: string } }) {
  const { certificateId } = await f.backend.installCertificate(f.token.mediaSerial, f.token.pin, {
    keyId, certificatePem: issued.certificatePem, encryptionPair: issued.encryptionPair, replacesCertificateId: f.token.certificateId,
  });
  await f.backend.confirmCertificate(f.token.mediaSerial, f.token.pin, certificateId);
  return page.post(`/renewals/${renewalId}/installed`, { serialHex: issued.serialHex });
}
