import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import request from 'supertest';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { createLogger } from '../../src/lib/logger';
import { cryptoRandom, systemClock } from '../../src/lib/clock';
import { NotifyRefused, sandboxCashierUrl, type VerifiedNotify, type WechatPay, WechatPayError } from '../../src/providers/wechatpay';
import { loadWechatPayKeys } from '../../src/providers/wechatpay/keys';
import { createWechatPayClient } from '../../src/providers/wechatpay/real';
import { type SandboxWechatPayState } from '../../src/providers/wechatpay/sandbox-state';

/**
 * The real WeChat Pay client and notify verifier against the sandbox WeChat Pay, over HTTP on 127.0.0.1:
 * the app in sandbox mode mounts the sandbox at /sandbox/wechatpay and deps.wechatpay points at it.
 */
interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A stand-in for /pay/wechat/notify: records what arrives, answers with the next queued status (default 204). */
class NotifyReceiver {
  readonly received: Received[] = [];
  readonly statuses: number[] = [];
  private waiters: Array<() => void> = [];
  server!: Server;
  url = '';

  async start() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.statusCode = this.statuses.shift() ?? 204;
        res.end(res.statusCode >= 300 ? '{"code":"FAIL","message":"失败"}' : undefined);
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/pay/wechat/notify`;
  }

  async next(count: number): Promise<Received[]> {
    while (this.received.length < count) await new Promise<void>((r) => this.waiters.push(r));
    return this.received.slice(0, count);
  }

  stop() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

let handle: TestBackendHandle;
let app: ListeningInstance;
let pay: WechatPay;
let sandbox: SandboxWechatPayState;
let receiver: NotifyReceiver;
const openid = 'oTestUser0001';
let seq = 0;
const orderNo = () => `T${Date.now().toString(36)}${(seq++).toString().padStart(3, '0')}_x`;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  pay = app.deps.wechatpay;
  sandbox = app.deps.sandboxWechatPay!;
  sandbox.retryScheduleMs = [30, 30, 30];
  receiver = new NotifyReceiver();
  await receiver.start();
});

afterAll(async () => {
  await receiver?.stop();
  await app?.close();
  await handle?.drop();
});

beforeEach(() => {
  receiver.received.length = 0;
});

const prepay = (no: string, amountFen = 20000) => pay.jsapiPrepay({
  outTradeNo: no, description: '数字证书续期 1 年', amountFen, openid, expiresAtMs: Date.now() + 30 * 60_000, notifyUrl: receiver.url,
});

/** What the H5 page does in sandbox mode: open the cashier with the signed pay params, then press a button. */
async function payInCashier(prepayId: string, action: 'confirm' | 'cancel' = 'confirm') {
  const returnUrl = `${app.url}/h5/orders/x`;
  const url = sandboxCashierUrl(app.url, pay.jsapiPayParams(prepayId), returnUrl);
  const page = await fetch(url);
  const html = await page.text();
  expect(page.status).toBe(200);
  const res = await fetch(`${app.url}/sandbox/wechatpay/cashier`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ prepay_id: prepayId, return_url: returnUrl, action }).toString(),
  });
  return { html, status: res.status, location: res.headers.get('location') };
}

const caught = async (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as WechatPayError);

describe('WeChat Pay client against the sandbox WeChat Pay', () => {
  it('When the user confirms in the cashier, then a signed, encrypted notify arrives, verifies and decrypts to a SUCCESS transaction that query confirms', async () => {
    const no = orderNo();
    const { prepayId } = await prepay(no);
    expect(prepayId).toMatch(/^wx\w+$/);
    expect(await pay.queryByOutTradeNo(no)).toMatchObject({ out_trade_no: no, trade_state: 'NOTPAY', amount: { total: 20000 } });

    const cashier = await payInCashier(prepayId);
    expect(cashier.html).toContain('200.00');
    expect(cashier.html).toContain('数字证书续期 1 年');
    expect(cashier.status).toBe(302);
    expect(cashier.location).toBe(`${app.url}/h5/orders/x?wechatpay=ok`);

    const [n] = await receiver.next(1);
    expect(n.headers['wechatpay-serial']).toBe(app.config.wechatpay.publicKey!.id);
    const verified = pay.verifyNotify(n.headers, n.body) as Extract<VerifiedNotify, { kind: 'transaction' }>;
    expect(verified.kind).toBe('transaction');
    expect(verified.event_type).toBe('TRANSACTION.SUCCESS');
    expect(verified.transaction).toMatchObject({
      appid: app.config.wechat.appId, mchid: app.config.wechatpay.mchId, out_trade_no: no, trade_state: 'SUCCESS',
      payer: { openid }, amount: { total: 20000, currency: 'CNY' },
    });
    expect(await pay.queryByOutTradeNo(no)).toMatchObject({ trade_state: 'SUCCESS', transaction_id: verified.transaction.transaction_id });

    // Paid: closing and paying again are refused with WeChat Pay's codes.
    expect((await caught(pay.close(no)))?.wechatCode).toBe('ORDERPAID');
    expect((await caught(prepay(no)))?.wechatCode).toBe('ORDERPAID');
  });

  it('When a paid order is refunded, then the refund is PROCESSING, a retry with the same out_refund_no changes nothing, and the refund notify verifies', async () => {
    const no = orderNo();
    const { prepayId } = await prepay(no, 40000);
    await payInCashier(prepayId);
    await receiver.next(1);
    receiver.received.length = 0;

    const refund = await pay.refund({ outTradeNo: no, outRefundNo: `RF${no}`, refundFen: 40000, totalFen: 40000, notifyUrl: receiver.url });
    expect(refund).toMatchObject({ out_trade_no: no, out_refund_no: `RF${no}`, status: 'PROCESSING', amount: { refund: 40000, total: 40000 } });
    const again = await pay.refund({ outTradeNo: no, outRefundNo: `RF${no}`, refundFen: 40000, totalFen: 40000, notifyUrl: receiver.url });
    expect(again.refund_id).toBe(refund.refund_id);
    expect((await caught(pay.refund({ outTradeNo: no, outRefundNo: `RF2${no}`, refundFen: 1, totalFen: 40000 })))?.wechatCode).toBe('INVALID_REQUEST');

    await sandbox.completeRefund(`RF${no}`);
    const [n] = await receiver.next(1);
    const verified = pay.verifyNotify(n.headers, n.body);
    expect(verified).toMatchObject({ kind: 'refund', event_type: 'REFUND.SUCCESS', refund: { out_refund_no: `RF${no}`, status: 'SUCCESS', amount: { refund: 40000 } } });
    expect(await pay.queryRefund(`RF${no}`)).toMatchObject({ status: 'SUCCESS' });
    expect(await pay.queryByOutTradeNo(no)).toMatchObject({ trade_state: 'REFUND' });
    expect(await pay.queryRefund('RF-unknown')).toBeUndefined();
  });

  it('When an unpaid order is closed, then query shows CLOSED, closing again is fine, and it can be neither prepaid nor paid again', async () => {
    const no = orderNo();
    const { prepayId } = await prepay(no);
    await pay.close(no);
    await pay.close(no);
    expect(await pay.queryByOutTradeNo(no)).toMatchObject({ trade_state: 'CLOSED' });
    expect((await caught(prepay(no)))?.wechatCode).toBe('ORDER_CLOSED');
    const cashier = await fetch(sandboxCashierUrl(app.url, pay.jsapiPayParams(prepayId), `${app.url}/h5/`));
    expect(cashier.status).toBe(400);
    expect(await cashier.text()).toContain('订单已关闭');
    expect(await pay.queryByOutTradeNo('NoSuchOrder01')).toBeUndefined();
  });

  it('When the same order number comes back with another amount, then WeChat Pay answers OUT_TRADE_NO_USED; the same request gets a fresh prepay_id', async () => {
    const no = orderNo();
    const first = await prepay(no);
    const second = await prepay(no);
    expect(second.prepayId).not.toBe(first.prepayId);
    expect((await caught(prepay(no, 20001)))?.wechatCode).toBe('OUT_TRADE_NO_USED');
    expect((await caught(pay.jsapiPrepay({ outTradeNo: orderNo(), description: 'x', amountFen: 1, openid: '', expiresAtMs: Date.now() + 120_000, notifyUrl: receiver.url })))?.wechatCode).toBe('PARAM_ERROR');
  });

  it('When the notify endpoint fails, then the sandbox resends (each attempt freshly signed) until it gets a 2xx', async () => {
    receiver.statuses.push(500, 503);
    const no = orderNo();
    const { prepayId } = await prepay(no);
    await payInCashier(prepayId);
    const got = await receiver.next(3);
    expect(got.map((g) => g.headers['wechatpay-nonce'])).toHaveLength(3);
    expect(new Set(got.map((g) => g.headers['wechatpay-signature'])).size).toBe(3);
    for (const g of got) expect(pay.verifyNotify(g.headers, g.body).kind).toBe('transaction');
    // The sandbox records the 204 once our answer reaches it: wait for that, not for a fixed time.
    for (const until = Date.now() + 5_000; !sandbox.deliveries.at(-1)?.delivered && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
    expect(sandbox.deliveries.at(-1)).toMatchObject({ attempts: [500, 503, 204], delivered: true });
  });

  it('When the cashier gets a paySign not made with the merchant key, then it refuses to pay (支付验证签名失败)', async () => {
    const no = orderNo();
    const { prepayId } = await prepay(no);
    const params = { ...pay.jsapiPayParams(prepayId), nonceStr: 'tampered0000000000000000000000000' };
    const res = await fetch(sandboxCashierUrl(app.url, params, `${app.url}/h5/`));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('支付验证签名失败');
  });

  it('When a notify is replayed with its body changed, or probed, then the verifier refuses it', async () => {
    const { prepayId } = await prepay(orderNo());
    await payInCashier(prepayId);
    const [n] = await receiver.next(1);
    expect(() => pay.verifyNotify(n.headers, n.body.replace('TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS '))).toThrow(NotifyRefused);
    expect(() => pay.verifyNotify({ ...n.headers, 'wechatpay-signature': 'WECHATPAY/SIGNTEST/abc' }, n.body)).toThrow(NotifyRefused);
  });

  it('When the client signs with a key that is not the merchant\'s, then WeChat Pay answers 401 SIGN_ERROR', async () => {
    const keys = loadWechatPayKeys(app.config.wechatpay, Date.now());
    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const impostor = createWechatPayClient({
      config: app.config.wechatpay, keys: { ...keys, merchantPrivateKey: wrongKey }, clock: systemClock, random: cryptoRandom, logger: createLogger('silent'),
    });
    const err = await caught(impostor.queryByOutTradeNo('NoSuchOrder01'));
    expect(err).toBeInstanceOf(WechatPayError);
    expect(err).toMatchObject({ kind: 'api', wechatCode: 'SIGN_ERROR', httpStatus: 401 });
  });

  it('When a 2xx answer differs from what WeChat Pay signed, then the client refuses it before anyone can act on it', async () => {
    const no = orderNo();
    await prepay(no);
    sandbox.tamperNextResponse = true;
    const err = await caught(pay.queryByOutTradeNo(no));
    expect(err).toMatchObject({ kind: 'bad-response-signature' });
    // The sandbox signs with a key our ring does not hold: refused as well.
    const keys = loadWechatPayKeys(app.config.wechatpay, Date.now());
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    keys.verifiers.add(app.config.wechatpay.publicKey!.id, other);
    const distrustful = createWechatPayClient({ config: app.config.wechatpay, keys, clock: systemClock, random: cryptoRandom, logger: createLogger('silent') });
    expect(await caught(distrustful.queryByOutTradeNo(no))).toMatchObject({ kind: 'bad-response-signature' });
  });

  it('When WeChat Pay cannot be reached, then the call fails as a transport error within its timeout', async () => {
    const keys = loadWechatPayKeys(app.config.wechatpay, Date.now());
    const dead = createWechatPayClient({
      config: { ...app.config.wechatpay, apiBase: 'http://127.0.0.1:9' }, keys, clock: systemClock, random: cryptoRandom, logger: createLogger('silent'), timeoutMs: 2000,
    });
    expect(await caught(dead.queryByOutTradeNo('NoSuchOrder01'))).toMatchObject({ kind: 'transport' });
  });

  it('When WeChat Pay\'s primary host cannot be reached, then the call goes once to the backup domain, signed afresh, and succeeds there', async () => {
    const no = orderNo();
    await prepay(no);
    const keys = loadWechatPayKeys(app.config.wechatpay, Date.now());
    const failover = createWechatPayClient({
      config: { ...app.config.wechatpay, apiBase: 'http://127.0.0.1:9', apiBackupBase: app.config.wechatpay.apiBase }, keys, clock: systemClock, random: cryptoRandom, logger: createLogger('silent'), timeoutMs: 2000,
    });
    expect(await failover.queryByOutTradeNo(no)).toMatchObject({ out_trade_no: no, trade_state: 'NOTPAY' });
    const down = createWechatPayClient({
      config: { ...app.config.wechatpay, apiBase: 'http://127.0.0.1:9', apiBackupBase: 'http://127.0.0.1:9' }, keys, clock: systemClock, random: cryptoRandom, logger: createLogger('silent'), timeoutMs: 2000,
    });
    expect(await caught(down.queryByOutTradeNo(no))).toMatchObject({ kind: 'transport' });
  });

  it('When the primary host answers, even with a 5xx, then the call is not repeated on the backup domain', async () => {
    let backupHits = 0;
    const primary = createServer((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"SYSTEM_ERROR","message":"系统繁忙"}'));
    const backup = createServer((_req, res) => {
      backupHits++;
      res.writeHead(500).end();
    });
    await Promise.all([primary, backup].map((srv) => new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok))));
    const urlOf = (srv: Server) => `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const client = createWechatPayClient({
        config: { ...app.config.wechatpay, apiBase: urlOf(primary), apiBackupBase: urlOf(backup) }, keys: loadWechatPayKeys(app.config.wechatpay, Date.now()),
        clock: systemClock, random: cryptoRandom, logger: createLogger('silent'), timeoutMs: 2000,
      });
      expect(await caught(client.queryByOutTradeNo('NoSuchOrder01'))).toMatchObject({ kind: 'api', wechatCode: 'SYSTEM_ERROR', httpStatus: 503 });
      expect(backupHits).toBe(0);
    } finally {
      await Promise.all([primary, backup].map((srv) => new Promise((ok) => srv.close(ok))));
    }
  });

  it('When a bad order number or amount is given, then the client refuses before calling', async () => {
    await expect(pay.queryByOutTradeNo('a|b*c1')).rejects.toThrow(/out_trade_no/);
    await expect(pay.jsapiPrepay({ outTradeNo: orderNo(), description: 'x', amountFen: 1.5, openid, expiresAtMs: Date.now() + 120_000 })).rejects.toThrow(/amountFen/);
  });

  it('When the app runs in sandbox mode, then /sandbox/wechatpay answers unsigned calls with 401 SIGN_ERROR, itself signed', async () => {
    const res = await request(app.app.callback()).post('/sandbox/wechatpay/v3/pay/transactions/jsapi').send({});
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'SIGN_ERROR' });
    expect(res.headers['wechatpay-serial']).toBe(app.config.wechatpay.publicKey!.id);
  });
});
