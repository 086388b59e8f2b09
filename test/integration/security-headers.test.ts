import request, { type Response } from 'supertest';
import { type Certificate } from '../../src/modules/certificates/entities';
import { backend } from '../helpers/harness';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * Security headers on every page: a CSP whose nonce is new on each request and is the one every inline script and
 * style element carries, no framing, nosniff, and Referrer-Policy (no-referrer where the address carries a token).
 */
const DAY = 86_400_000;

/** Checks the headers every page gets and that each inline script and style carries the policy's nonce; returns the nonce. */
function expectPageHeaders(res: Response, referrer = 'same-origin'): string {
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['referrer-policy']).toBe(referrer);
  const csp = String(res.headers['content-security-policy']);
  for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "script-src-attr 'none'", "object-src 'none'", "base-uri 'none'", "img-src 'self' data:"]) {
    expect(csp).toContain(directive);
  }
  expect(csp).not.toMatch(/script-src [^;]*'unsafe-inline'/);
  const nonce = /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
  expect(nonce).toBeDefined();
  expect(csp).toContain(`style-src-elem 'self' 'nonce-${nonce}'`);
  for (const [tag, name, attrs] of res.text.matchAll(/<(script|style)\b([^>]*)>/g)) {
    const isCode = name === 'style' || !/\bsrc=|type="application\/json"/.test(attrs!);
    if (isCode) expect({ tag, nonce: /nonce="([^"]*)"/.exec(attrs!)?.[1] }).toEqual({ tag, nonce });
  }
  return nonce!;
}

describe(`security headers on the H5 and PC pages (${backend})`, () => {
  const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true' }, startJobs: false });
  let agent: Agent;
  let cert: Certificate;
  let orderNo: string;

  beforeAll(async () => {
    const now = Date.now();
    cert = await boundCertificate(t.instance.deps, 'oHeaders', { organization: '梅州安全头单位', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
    await verifyHandler(t.instance.deps, 'oHeaders');
    agent = await loginAs(t.instance.app, t.sandbox, 'oHeaders', '10.9.0.1');
    const renew = await agent.get('/h5/renew');
    const created = await agent.post('/h5/renew').type('form').send({ _csrf: csrfOf(renew.text), [`c_${cert.id}`]: '1', [`y_${cert.id}`]: '1' });
    orderNo = /\/h5\/orders\/([A-Z0-9]+)/.exec(created.headers.location)![1]!;
    // 对公汇款 is chosen by a POST; only then does the transfer page show (a GET alone changes nothing).
    const orderPage = await agent.get(`/h5/orders/${orderNo}`);
    const chosen = await agent.post(`/h5/orders/${orderNo}/transfer`).type('form').send({ _csrf: csrfOf(orderPage.text) });
    expect(chosen.status).toBe(302);
  });

  it('When each page is opened, then it carries the CSP with a nonce on every inline script and style, nosniff, DENY framing and same-origin referrers', async () => {
    const pages = ['/h5/', '/h5/certs', `/h5/certs/${cert.id}`, '/h5/renew', '/h5/orders', `/h5/orders/${orderNo}`, `/h5/orders/${orderNo}/transfer`, '/h5/handler', '/h5/handler/documents', '/h5/invoices'];
    for (const path of pages) {
      const res = await agent.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expectPageHeaders(res);
    }
  });

  it('When a page is opened twice, then each answer has its own nonce, and the inline scripts carry that answer\'s nonce', async () => {
    const first = await agent.get('/h5/renew');
    const second = await agent.get('/h5/renew');
    const [a, b] = [expectPageHeaders(first), expectPageHeaders(second)];
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64')).toHaveLength(16);
    expect(first.text).toContain(`<script nonce="${a}">`);
    expect(second.text).toContain(`<script nonce="${b}">`);
  });

  it('When a page\'s address carries a token or an OAuth code, then it sends no Referer at all', async () => {
    expectPageHeaders(await agent.get('/h5/bind?t=not-a-real-token'), 'no-referrer');
    expectPageHeaders(await agent.get('/h5/bind'), 'no-referrer');
    expectPageHeaders(await agent.get('/h5/handler/callback?ref=unknown&BizToken=x'), 'no-referrer');
    const callback = await request(t.instance.app.callback()).get('/oauth/callback?code=forged&state=forged').set('Accept', 'text/html');
    expect(callback.status).toBeGreaterThanOrEqual(400);
    expectPageHeaders(callback, 'no-referrer');
  });

  it('When /capc/ is opened, then its policy also lets it reach the key agent, and allows no style attributes', async () => {
    const res = await request(t.instance.app.callback()).get('/capc/');
    expectPageHeaders(res);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain(`connect-src 'self' ${new URL(t.instance.config.certificates.keyAgentUrl).origin}`);
    expect(csp).toContain("style-src-attr 'none'");
  });

  it('When the handler documents form is opened, then photo previews (blob:) are allowed there and nowhere else', async () => {
    expect(String((await agent.get('/h5/handler/documents')).headers['content-security-policy'])).toContain("img-src 'self' data: blob:");
    expect(String((await agent.get('/h5/')).headers['content-security-policy'])).not.toContain('blob:');
  });

  it('When a page is missing or refused, then the error page has the headers too; outside production there is no HSTS', async () => {
    const missing = await agent.get('/h5/no-such-page').set('Accept', 'text/html');
    expect(missing.status).toBe(404);
    expectPageHeaders(missing);
    expect(missing.headers['strict-transport-security']).toBeUndefined();
  });

  it('When forms redirect to WeChat OAuth (a session that ran out), then form-action allows WeChat\'s authorize page', async () => {
    const csp = String((await agent.get('/h5/bind')).headers['content-security-policy']);
    expect(csp).toContain(`form-action 'self' ${new URL(t.instance.config.wechat.oauthAuthorizeUrl).origin}`);
  });

  it('When WeChat calls the webhook, then the answer carries no browser headers (servers read it, and a burst pays for each one)', async () => {
    const res = await request(t.instance.app.callback()).get('/wechat?signature=x&timestamp=1&nonce=1&echostr=1');
    expect(res.headers['x-content-type-options']).toBeUndefined();
    expect(res.headers['content-security-policy']).toBeUndefined();
  });

  it('When an API answers JSON, then it has nosniff but no page policy', async () => {
    const health = await request(t.instance.app.callback()).get('/healthz');
    expect(health.headers['x-content-type-options']).toBe('nosniff');
    expect(health.headers['content-security-policy']).toBeUndefined();
  });
});

describe(`security headers on the sandbox and dev pages (${backend})`, () => {
  const t = useTestApp({ startJobs: false });

  it('When the simulator, the sandbox OAuth, cashier and FaceID pages are opened, then they carry the policy; those with tokens in the address send no Referer', async () => {
    const app = t.instance.app.callback();
    expectPageHeaders(await request(app).get('/dev/wechat'));
    expectPageHeaders(await request(app).get('/dev/wechat/api-calls'));
    expectPageHeaders(await request(app).get('/'));
    const authorize = await request(app).get('/h5/');
    expect(authorize.status).toBe(302);
    expectPageHeaders(await request(app).get(new URL(authorize.headers.location).pathname + new URL(authorize.headers.location).search), 'no-referrer');
    expectPageHeaders(await request(app).get('/sandbox/wechatpay/cashier?prepay_id=wx-none').set('Accept', 'text/html'), 'no-referrer');
    expectPageHeaders(await request(app).get('/sandbox/faceid/h5/unknown-token').set('Accept', 'text/html'), 'no-referrer');
  });
});
