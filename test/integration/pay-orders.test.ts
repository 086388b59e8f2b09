import { OrderService } from '../../src/modules/orders/service';
import { PaymentService } from '../../src/modules/payments/service';
import { backend, createTestBackend, type SandboxWechatServer, type TestBackendHandle } from '../helpers/harness';
import { csrfOf, loginAs } from '../helpers/h5-login';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * Paying a renewal order with WeChat Pay, on the app's sandbox WeChat Pay over real HTTP: the pay button, the
 * cashier, the signed and encrypted notify to /pay/wechat/notify, and every forged notify refused with nothing
 * credited.
 */
const DAY = 86_400_000;
let handle: TestBackendHandle;
let app: ListeningInstance;
let orders: OrderService;
let seq = 0;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { env: { TRUST_PROXY: 'true' } });
  orders = new OrderService(app.deps);
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const wechat = () => ({ state: app.deps.sandboxWechat! }) as unknown as SandboxWechatServer;
const sandboxPay = () => app.deps.sandboxWechatPay!;

async function orderFor(openid: string): Promise<{ orderNo: string; totalFen: number }> {
  const now = Date.now();
  const cert = await boundCertificate(app.deps, openid, { organization: `梅州支付测试单位${++seq}`, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  return { orderNo: order.orderNo, totalFen: order.totalFen };
}

async function until(check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** A notify as WeChat Pay would send it for this order, with parts of the transaction overridden. */
function notifyFor(orderNo: string, totalFen: number, over: Record<string, unknown> = {}) {
  return sandboxPay().buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', {
    appid: app.deps.wechatpay.appId, mchid: app.deps.wechatpay.mchId, out_trade_no: orderNo, transaction_id: `42000${Date.now()}${seq}`,
    trade_type: 'JSAPI', trade_state: 'SUCCESS', trade_state_desc: '支付成功', success_time: new Date().toISOString(),
    payer: { openid: 'o' }, amount: { total: totalFen, payer_total: totalFen, currency: 'CNY', payer_currency: 'CNY' }, ...over,
  });
}
const post = (n: { headers: Record<string, string>; body: string }) => fetch(`${app.url}/pay/wechat/notify`, { method: 'POST', headers: n.headers, body: n.body });

describe(`WeChat Pay for renewal orders (${backend})`, () => {
  it('When the handler pays in the sandbox cashier, then the verified notify marks the order PAID and the result page says so', async () => {
    const { orderNo } = await orderFor('oPayer');
    const phone = await loginAs(app.app, wechat(), 'oPayer', '10.7.0.1');
    const csrf = csrfOf((await phone.get('/h5/bind')).text);
    const pay = await phone.post(`/h5/orders/${orderNo}/pay/wechat`).type('form').send({ _csrf: csrf });
    expect(pay.status).toBe(302);
    const cashier = new URL(pay.headers.location);
    expect(cashier.pathname).toBe('/sandbox/wechatpay/cashier');
    // Tapping again reuses the prepay_id instead of creating another.
    const again = new URL((await phone.post(`/h5/orders/${orderNo}/pay/wechat`).type('form').send({ _csrf: csrf })).headers.location);
    expect(again.searchParams.get('package')).toBe(cashier.searchParams.get('package'));

    const waiting = await phone.get(`/h5/orders/${orderNo}/paid`);
    expect(waiting.text).toContain('data-state="pending"');
    const confirm = await fetch(`${app.url}/sandbox/wechatpay/cashier`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prepay_id: cashier.searchParams.get('package')!.replace('prepay_id=', ''), return_url: cashier.searchParams.get('return_url')!, action: 'confirm' }).toString(),
    });
    expect(confirm.status).toBe(302);
    await until(async () => (await orders.getOrder(orderNo))!.state === 'PAID');
    expect((await orders.getOrder(orderNo))!).toMatchObject({ state: 'PAID', paymentMethod: 'wechatpay' });
    expect((await phone.get(`/h5/orders/${orderNo}/paid?wechatpay=ok`)).text).toContain('data-state="paid"');

    // After the commit, the handler gets the 订单支付成功 template message (once, whatever the retries).
    const sent = () => app.deps.sandboxWechat!.callsTo('cgi-bin/message/template/send').filter((c) => (c.request as { touser?: string }).touser === 'oPayer');
    await until(async () => sent().length > 0);
    expect(sent()[0].request).toMatchObject({
      client_msg_id: `paid-${orderNo}`, url: `${app.url}/h5/orders/${orderNo}`,
      data: { character_string1: { value: orderNo }, amount2: { value: '200.00元' }, thing3: { value: '数字证书续期1张' } },
    });
  });

  it.each([
    ['a wrong amount', (no: string, fen: number) => notifyFor(no, fen, { amount: { total: fen - 1, currency: 'CNY' } }), 400],
    ['another merchant', (no: string, fen: number) => notifyFor(no, fen, { mchid: '1900000109' }), 400],
    ['another appid', (no: string, fen: number) => notifyFor(no, fen, { appid: 'wx0000000000000000' }), 400],
    ['an unknown order', (_no: string, fen: number) => notifyFor('R20261125UNKNOWNORDER00', fen), 400],
    ['a body changed after signing', (no: string, fen: number) => { const n = notifyFor(no, fen); return { ...n, body: n.body.replace('"summary":"支付成功"', '"summary":"x"') }; }, 401],
    ['an unknown serial', (no: string, fen: number) => { const n = notifyFor(no, fen); return { ...n, headers: { ...n.headers, 'Wechatpay-Serial': 'PUB_KEY_ID_0000000000000000000000000000' } }; }, 401],
    ['a stale timestamp', (no: string, fen: number) => { const n = notifyFor(no, fen); return { ...n, headers: { ...n.headers, 'Wechatpay-Timestamp': String(Math.floor(Date.now() / 1000) - 400) } }; }, 401],
    ['a signature probe', (no: string, fen: number) => { const n = notifyFor(no, fen); return { ...n, headers: { ...n.headers, 'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${n.headers['Wechatpay-Signature']}` } }; }, 401],
  ])('When a notify has %s, then it is refused with FAIL and nothing is credited', async (_what, build, status) => {
    const { orderNo, totalFen } = await orderFor(`oForged${seq}`);
    const res = await post(build(orderNo, totalFen));
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ code: 'FAIL' });
    expect((await orders.getOrder(orderNo))!.state).toBe('PENDING_PAYMENT');
  });

  it('When one notify is delivered 50 times at once, then the order is credited once and every delivery is acknowledged', async () => {
    const { orderNo, totalFen } = await orderFor('oStorm');
    const notify = notifyFor(orderNo, totalFen);
    const results = await Promise.all(Array.from({ length: 50 }, () => post(notify)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(204));
    const order = (await orders.getOrder(orderNo))!;
    expect(order.state).toBe('PAID');
    expect(order.paidAmountFen).toBe(totalFen);
  });

  it('When a payment for an order we closed still arrives, then it is not credited and the money is refunded', async () => {
    const { orderNo } = await orderFor('oLate');
    const params = await new PaymentService(app.deps).jsapiParams(orderNo, 'oLate');
    await orders.cancel(orderNo, 'oLate', new Date());
    // The user pays anyway (we closed on our side only): WeChat Pay notifies a real transaction.
    const paid = sandboxPay().confirmPayment(params.package.replace('prepay_id=', ''));
    expect('error' in paid).toBe(false);
    await until(async () => [...sandboxPay().refunds.values()].some((r) => r.outTradeNo === orderNo));
    expect([...sandboxPay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toHaveLength(1);
    expect((await orders.getOrder(orderNo))!.state).toBe('CLOSED');
  });
});

describe(`the expired-order sweep (${backend})`, () => {
  it('When orders expire, then one paid meanwhile is credited, one waiting at WeChat Pay is closed there and here, and a transfer order is closed', async () => {
    const payments = new PaymentService(app.deps);
    const paidLate = await orderFor('oSweep1');
    await orders.choosePaymentMethod(paidLate.orderNo, 'oSweep1', 'wechatpay', new Date());
    // Its notify is lost (sent where nobody listens, never retried): only the sweep's own query can find the payment.
    const { prepayId } = await app.deps.wechatpay.jsapiPrepay({
      outTradeNo: paidLate.orderNo, description: '数字证书续期 1 张', amountFen: paidLate.totalFen, openid: 'oSweep1', expiresAtMs: Date.now() + 3_600_000, notifyUrl: 'http://127.0.0.1:9/lost',
    });
    const unpaid = await orderFor('oSweep2');
    await payments.jsapiParams(unpaid.orderNo, 'oSweep2');
    const transfer = await orderFor('oSweep3');
    await orders.choosePaymentMethod(transfer.orderNo, 'oSweep3', 'transfer', new Date());
    const schedule = sandboxPay().retryScheduleMs;
    sandboxPay().retryScheduleMs = [];
    const confirmed = sandboxPay().confirmPayment(prepayId);
    expect('error' in confirmed).toBe(false);
    if (!('error' in confirmed)) await confirmed.delivery.catch(() => undefined);
    sandboxPay().retryScheduleMs = schedule;

    const later = new Date(Date.now() + 3 * 3_600_000);
    const { closed, credited } = await payments.closeExpired(later);
    expect(credited).toContain(paidLate.orderNo);
    expect(closed).toEqual(expect.arrayContaining([unpaid.orderNo, transfer.orderNo]));
    expect((await orders.getOrder(paidLate.orderNo))!.state).toBe('PAID');
    expect((await orders.getOrder(unpaid.orderNo))!.state).toBe('CLOSED');
    expect(sandboxPay().transactions.get(unpaid.orderNo)!.state).toBe('CLOSED');
  });

  it('When one expired order cannot be settled (WeChat Pay answers it with a bad signature), then the sweep counts it, closes the others and settles it on the next pass', async () => {
    const payments = new PaymentService(app.deps);
    const first = await orderFor('oSweepBad1');
    await payments.jsapiParams(first.orderNo, 'oSweepBad1');
    const second = await orderFor('oSweepBad2');
    await payments.jsapiParams(second.orderNo, 'oSweepBad2');
    const later = new Date(Date.now() + 3 * 3_600_000);
    const failedBefore = (await app.deps.metrics.orderSweep.get()).values.find((v) => v.labels.result === 'failed')?.value ?? 0;

    // The next WeChat Pay answer (the query for the older order) is altered after signing: the client refuses it.
    sandboxPay().tamperNextResponse = true;
    const { closed, failed } = await payments.closeExpired(later);
    expect(failed).toEqual([first.orderNo]);
    expect(closed).toContain(second.orderNo);
    expect((await orders.getOrder(first.orderNo))!.state).toBe('PENDING_PAYMENT');
    expect((await orders.getOrder(second.orderNo))!.state).toBe('CLOSED');
    expect((await app.deps.metrics.orderSweep.get()).values.find((v) => v.labels.result === 'failed')?.value).toBe(failedBefore + 1);

    const again = await payments.closeExpired(later);
    expect(again.failed).toEqual([]);
    expect(again.closed).toContain(first.orderNo);
  });
});
