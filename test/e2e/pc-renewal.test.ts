import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Browser, type Page } from 'playwright-core';
import { type KeyAgent } from '../../src/key-agent/create-agent';
import { type UnplugAt } from '../../src/key-agent/protocol';
import { openSoftTokenStore } from '../../src/key-agent/soft-token-admin';
import { inTransaction } from '../../src/lib/db/transaction';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { type KeyAlgorithm } from '../../src/lib/pki/types';
import { BindingRepository } from '../../src/modules/binding/repository';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { OrderService } from '../../src/modules/orders/service';
import { RenewalEntity, RenewalIssuanceEntity } from '../../src/modules/renewals/entities';
import { desktopContext, horizontalOverflow, screenshot } from '../helpers/browser';
import { verifyHandler } from '../helpers/handlers';
import { type TestBackendHandle } from '../helpers/harness';
import { freePort, type ListeningInstance, startListening } from '../helpers/listening';
import { startPcKeyAgentStack, type PcKeyAgentStack } from '../helpers/pc-key-agent';
import { createTokenWithCertificate, type SoftTokenFixture } from '../helpers/pki-fixtures';

/**
 * The PC renewal page (/gdca-page/redirect?busyType=8) in Chromium at 1280 px, against the real renewal API and a
 * real key agent (in-process, soft tokens, the fault switch on): a paid certificate is renewed on its token and the
 * page says 实时制证成功; the key pulled at each step is resumed to exactly one installed certificate and one charge;
 * wrong and locked PINs; unpaid → the QR code to pay on the phone; a transfer waiting → 汇款待核实.
 */
jest.setTimeout(120_000);
const DAY = 86_400_000;
const PIN = '135790';
const PAGE = '/gdca-page/redirect?busyType=8';

let stack: PcKeyAgentStack;
let handle: TestBackendHandle;
let app: ListeningInstance;
let keyAgent: KeyAgent;
let tokenDir: string;
let browser: Browser;
let seq = 0;

beforeAll(async () => {
  // The agent's development switches: the fault switch pulls the key at a chosen step.
  stack = await startPcKeyAgentStack({ tokenDirPrefix: 'pc-renewal-tokens-', dev: true });
  ({ handle, app, keyAgent, tokenDir, browser } = stack);
});

afterAll(async () => {
  await stack?.close();
});

/** Policy violations and script errors of the pages: none may happen (as test/e2e/csp.test.ts watches them). */
const problems: string[] = [];
afterEach(() => {
  expect(problems.splice(0)).toEqual([]);
});

async function desktop(): Promise<Page> {
  const ctx = await desktopContext(browser);
  stack.contexts.push(ctx);
  await ctx.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
  });
  ctx.on('console', (m) => {
    if (/CSP violation|Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return page;
}

type Payment = 'paid' | 'unpaid' | 'transfer';
interface Holder { token: SoftTokenFixture; organization: string; certificateId: number; orderNo?: string }

/** A U-KEY holding a certificate 20 days from expiry, known and bound to a handler; paid for (or not) on the phone. */
async function holder(algorithm: KeyAlgorithm, payment: Payment = 'paid'): Promise<Holder> {
  const n = ++seq;
  const organization = `梅州市续期测试${n}号有限公司`;
  const openid = `oPcRenew${n}`;
  const now = Date.now();
  const token = await createTokenWithCertificate(app.deps.ca, { dir: tokenDir, pin: PIN, organization, algorithm, notBefore: new Date(now - 345 * DAY), notAfter: new Date(now + 20 * DAY) });
  const cert = await certificateServiceFor(app.deps).acceptPresented({ pem: token.certificatePem, mediaSerial: token.mediaSerial, at: new Date() });
  await inTransaction(app.deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: true }, new Date()));
  if (payment === 'unpaid') return { token, organization, certificateId: cert.id };
  await verifyHandler(app.deps, openid, { sandbox: true });
  const orders = new OrderService(app.deps);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  if (payment === 'transfer') await orders.choosePaymentMethod(order.orderNo, openid, 'transfer', new Date());
  else await orders.markPaid(order.orderNo, { method: 'wechatpay', amountFen: order.totalFen, transactionId: `4200PC${n}${now % 1e8}`, paidAt: new Date() });
  return { token, organization, certificateId: cert.id, orderNo: order.orderNo };
}

/** Opens the page and picks the holder's certificate (the page lists every key's certificates). */
async function openFor(page: Page, h: Holder): Promise<void> {
  await page.goto(`${app.url}${PAGE}`);
  await page.locator('#panel-select').waitFor({ state: 'visible' });
  await page.locator('.capc-cert', { hasText: h.organization }).click();
}

async function startRenewal(page: Page, pin = PIN): Promise<void> {
  await page.getByLabel('证书密码（PIN 码）').fill(pin);
  await page.locator('#submit').click();
}

/** What is on the token: its certificates (sign/encrypt, pending) and how many key pairs it holds. */
async function onToken(h: Holder) {
  const record = (await openSoftTokenStore(tokenDir).read(h.token.mediaSerial))!;
  return {
    certificates: record.certificates.map((c) => ({ usage: c.usage, state: c.state, serialHex: parseCertificate(c.pem).serialHex, notAfter: parseCertificate(c.pem).notAfter })),
    keys: record.keys.length,
  };
}

/** The server's side: the renewal, its issuances, the order. */
async function serverSide(h: Holder) {
  const renewals = await app.deps.db.getRepository(RenewalEntity).find({ where: { orderNo: h.orderNo! } });
  const issuances = renewals.length ? await app.deps.db.getRepository(RenewalIssuanceEntity).find({ where: { renewalId: renewals[0].id } }) : [];
  const order = await new OrderService(app.deps).getOrder(h.orderNo!);
  return { renewals, issuances, order };
}

/** The end every successful renewal must reach, whatever happened on the way. */
async function expectRenewedOnce(h: Holder, page: Page, dual = false): Promise<void> {
  const done = await page.locator('#panel-done').innerText();
  expect(done).toContain('实时制证成功');
  const token = await onToken(h);
  expect(token.certificates.map((c) => [c.usage, c.state])).toEqual(dual ? [['sign', 'confirmed'], ['encrypt', 'confirmed']] : [['sign', 'confirmed']]);
  const [signing] = token.certificates;
  expect(signing.serialHex).not.toBe(h.token.cert.serialHex);
  // One key pair per certificate: no orphan left by an abandoned attempt.
  expect(token.keys).toBe(dual ? 2 : 1);
  expect(done).toContain(signing.serialHex);
  // Renewing 20 days early loses nothing: the new validity runs from the old end.
  expect(signing.notAfter.getTime()).toBeGreaterThan(h.token.cert.notAfter.getTime() + 364 * DAY);
  const { renewals, issuances, order } = await serverSide(h);
  expect(renewals.map((r) => r.state)).toEqual(['INSTALLED']);
  expect(issuances.filter((i) => i.state === 'INSTALLED').map((i) => i.serialHex)).toEqual([signing.serialHex]);
  expect(order).toMatchObject({ state: 'FULFILLED', paidAmountFen: order!.totalFen });
}

describe('PC renewal page (1280 px)', () => {
  it('When an RSA certificate is paid for, then the page shows the order and the new validity, renews on the key and says 实时制证成功', async () => {
    const h = await holder('RSA-2048');
    const page = await desktop();
    await openFor(page, h);
    const info = await page.locator('#info').innerText();
    expect(info).toContain('已缴费，可立即续期');
    expect(info).toContain(h.orderNo!);
    expect(info).toContain('续期后有效期至');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'pc-renewal-entitled-1280');
    await startRenewal(page);
    await page.locator('#panel-done').waitFor({ state: 'visible' });
    await screenshot(page, 'pc-renewal-done-rsa-1280');
    await expectRenewedOnce(h, page);
  });

  it('When an SM2 certificate is renewed, then the key holds the new signing certificate and the encryption certificate with its imported key', async () => {
    const h = await holder('SM2');
    const page = await desktop();
    await openFor(page, h);
    await startRenewal(page);
    await page.locator('#panel-done').waitFor({ state: 'visible' });
    expect(await page.locator('#done-summary').innerText()).toContain('SM2 双证书');
    await screenshot(page, 'pc-renewal-done-sm2-1280');
    await expectRenewedOnce(h, page, true);
  });

  const pulls: Array<[string, UnplugAt, 'button' | 'reload']> = [
    ['before keygen.csr', { before: 'keygen.csr' }, 'button'],
    ['during keygen.csr (key pair made, no answer)', { during: 'keygen.csr' }, 'reload'],
    ['after keygen.csr, before the CSR is submitted', { after: 'keygen.csr' }, 'button'],
    ['before cert.install (certificate issued)', { before: 'cert.install' }, 'reload'],
    ['during cert.install', { during: 'cert.install' }, 'button'],
    ['before cert.confirm (certificate pending on the key)', { before: 'cert.confirm' }, 'reload'],
  ];
  it.each(pulls)('When the key is pulled %s, then the page asks for it back and a retry (%#) ends with one installed certificate and one charge', async (_what, at, retry) => {
    const h = await holder('ECDSA-P256');
    const page = await desktop();
    await openFor(page, h);
    keyAgent.softTokens!.unplug(h.token.mediaSerial, at);
    await startRenewal(page);
    await page.locator('#progress-error').waitFor({ state: 'visible' });
    expect(await page.locator('#progress-error').innerText()).toContain('U-KEY 已被拔出');
    expect(await page.locator('#panel-progress').innerText()).toContain('续期过程中请不要拔出U-KEY');
    if (retry === 'reload') await screenshot(page, `pc-renewal-pulled-1280`);
    keyAgent.softTokens!.plug(h.token.mediaSerial);
    if (retry === 'button') {
      await page.getByRole('button', { name: '继续续期' }).click();
    } else {
      // A new visit: the server says the renewal is under way; the holder types the PIN again and continues.
      await openFor(page, h);
      expect(await page.locator('#info').innerText()).toContain('续期尚未完成');
      expect(await page.locator('#submit').innerText()).toBe('继续续期');
      await startRenewal(page);
    }
    await page.locator('#panel-done, #progress-error:not([hidden])').first().waitFor({ state: 'visible' });
    expect(await page.locator('#progress-error').isVisible() ? await page.locator('#progress-error').innerText() : '').toBe('');
    await page.locator('#panel-done').waitFor({ state: 'visible' });
    await expectRenewedOnce(h, page);
  });

  it('When the key is pulled after cert.confirm and the site was not told, then the next visit tells it and the renewal ends INSTALLED', async () => {
    const h = await holder('ECDSA-P256');
    const page = await desktop();
    await openFor(page, h);
    // The network drops the one call after the key confirmed the new certificate (the old one is gone from the key).
    let dropped = 0;
    await page.route('**/gdca-page/api/renewals/*/installed', (route) => (dropped++ === 0 ? route.abort('internetdisconnected') : route.continue()));
    await startRenewal(page);
    await page.locator('#progress-error').waitFor({ state: 'visible' });
    expect((await serverSide(h)).renewals.map((r) => r.state)).toEqual(['ISSUED']);
    expect((await onToken(h)).certificates.map((c) => c.state)).toEqual(['confirmed']);

    await page.goto(`${app.url}${PAGE}`);
    await page.locator('#panel-select').waitFor({ state: 'visible' });
    const { renewals, order } = await serverSide(h);
    expect([renewals.map((r) => r.state), order!.state]).toEqual([['INSTALLED'], 'FULFILLED']);
  });

  it('When a second tab starts the same renewal while the first holds it, then the second is told it is running and the first finishes alone', async () => {
    const h = await holder('ECDSA-P256');
    const first = await desktop();
    const second = await first.context().newPage(); // same browser: same PC session, another tab
    await openFor(first, h);
    await openFor(second, h);
    // The first tab stops halfway (key pulled after its key pair was made), holding the renewal's challenge.
    keyAgent.softTokens!.unplug(h.token.mediaSerial, { after: 'keygen.csr' });
    await startRenewal(first);
    await first.locator('#progress-error').waitFor({ state: 'visible' });
    keyAgent.softTokens!.plug(h.token.mediaSerial);

    await startRenewal(second);
    await second.locator('#progress-error').waitFor({ state: 'visible' });
    expect(await second.locator('#progress-error').innerText()).toContain('正在另一个页面');
    await screenshot(second, 'pc-renewal-running-elsewhere-1280');

    await first.getByRole('button', { name: '继续续期' }).click();
    await first.locator('#panel-done').waitFor({ state: 'visible' });
    await expectRenewedOnce(h, first);
  });

  it('When the key agent is older than protocol 2, then the page asks to update it and says how', async () => {
    // An agent of the first protocol, as far as the page can tell: agent.hello without key.remove.
    const old = createServer((req, res) => {
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
      if (req.method === 'OPTIONS') return void res.writeHead(204).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { name: 'shuan-ca-key-agent', version: '0.0.9', protocol: 1, backends: ['soft'] } }));
    });
    await new Promise<void>((ok) => old.listen(0, '127.0.0.1', ok));
    const elsewhere = await startListening(handle, { env: { KEY_AGENT_URL: `http://127.0.0.1:${(old.address() as AddressInfo).port}` } });
    try {
      const page = await desktop();
      await page.goto(`${elsewhere.url}${PAGE}`);
      await page.locator('#panel-old-agent').waitFor({ state: 'visible' });
      const text = await page.locator('#panel-old-agent').innerText();
      expect(text).toContain('证书助手版本过低');
      expect(text).toContain('0.0.9');
      expect(text).toContain('GDCA 数字证书客户端');
      await screenshot(page, 'pc-renewal-old-agent-1280');
    } finally {
      await elsewhere.close();
      await new Promise((ok) => old.close(ok));
    }
  });

  it('When no key agent answers, then the page gives /capc/\'s guidance to install and start it', async () => {
    const elsewhere = await startListening(handle, { env: { KEY_AGENT_URL: `http://127.0.0.1:${await freePort()}` } });
    try {
      const page = await desktop();
      await page.goto(`${elsewhere.url}${PAGE}`);
      await page.locator('#panel-no-agent').waitFor({ state: 'visible' });
      expect(await page.locator('#panel-no-agent').innerText()).toContain('未检测到证书助手');
    } finally {
      await elsewhere.close();
    }
  });

  it('When the PIN is wrong, then the tries left are shown; when it locks, the page says so and nothing starts', async () => {
    const h = await holder('ECDSA-P256');
    const page = await desktop();
    await openFor(page, h);
    await startRenewal(page, '000000');
    await page.locator('#select-error').waitFor({ state: 'visible' });
    expect(await page.locator('#select-error').innerText()).toContain('还可尝试 5 次');
    await screenshot(page, 'pc-renewal-wrong-pin-1280');
    for (let i = 0; i < 5; i++) {
      await startRenewal(page, '000000');
      await page.waitForFunction(() => !(document.getElementById('submit') as HTMLButtonElement).disabled);
    }
    const locked = await page.locator('#select-error').innerText();
    expect(locked).toContain('已锁定');
    expect(locked).toContain('95105813');
    await screenshot(page, 'pc-renewal-pin-locked-1280');
    expect((await serverSide(h)).renewals.every((r) => r.state === 'ENTITLED')).toBe(true);
  });

  it('When nothing is paid, then the page shows the price and a QR code that opens 续期缴费 on the phone; a transfer waiting shows 汇款待核实', async () => {
    const unpaid = await holder('RSA-2048', 'unpaid');
    const page = await desktop();
    await openFor(page, unpaid);
    const info = page.locator('#info');
    expect(await info.innerText()).toContain('该证书尚未缴纳续期费用');
    expect(await info.innerText()).toContain('¥200.00');
    expect(await info.innerText()).toContain(`/h5/renew?cert=${unpaid.certificateId}`);
    const qr = info.locator('img');
    await qr.waitFor();
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 100)).toBe(true);
    expect(await page.locator('#submit').isHidden()).toBe(true);
    await screenshot(page, 'pc-renewal-unpaid-1280');

    const waiting = await holder('RSA-2048', 'transfer');
    await openFor(page, waiting);
    expect(await info.innerText()).toContain('汇款待核实');
    expect(await info.innerText()).toContain(waiting.orderNo!);
  });

  it('When another busyType is asked for, then 暂不支持该业务 with the hotline', async () => {
    const page = await desktop();
    await page.goto(`${app.url}/gdca-page/redirect?busyType=3`);
    const text = await page.locator('main').innerText();
    expect(text).toContain('暂不支持该业务');
    expect(text).toContain('95105813');
  });
});
