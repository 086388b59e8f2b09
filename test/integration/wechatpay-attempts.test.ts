import { OrderService } from '../../src/modules/orders/service';
import { WechatPayAttemptRepository } from '../../src/modules/payments/attempts';
import { PaymentService } from '../../src/modules/payments/service';
import { RefundService } from '../../src/modules/refunds/service';
import { TransferService } from '../../src/modules/transfers/service';
import { backend, createTestBackend, TestClock, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * A repeat prepay never changes time_expire (issue 13). WeChat Pay, JSAPI下单 (pay.weixin.qq.com/doc/v3/merchant/4012525167):
 * "time_expire 参数仅在用户首次下单时可设置，且不允许后续修改，尝试修改将导致错误。若用户实际进行支付的时间超过了订单设置的
 * 支付结束时间，商户需使用新的商户订单号下单 … 若未超过支付结束时间，则可使用原参数重新请求下单接口，以获取当前订单最新的
 * prepay_id 进行支付。" The app runs on an injected clock shared with its sandbox WeChat Pay, over real HTTP.
 */
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
let handle: TestBackendHandle;
let app: ListeningInstance;
let clock: TestClock;
let orders: OrderService;
let payments: PaymentService;
let seq = 0;

beforeAll(async () => {
  handle = await createTestBackend();
  clock = new TestClock();
  app = await startListening(handle, { clock });
  orders = new OrderService(app.deps);
  payments = new PaymentService(app.deps);
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const sandboxPay = () => app.deps.sandboxWechatPay!;
const now = () => new Date(clock.nowMs());
/** time_expire goes out in whole seconds (RFC 3339). */
const toSecond = (ms: number) => Math.floor(ms / 1000) * 1000;
const prepayIdOf = (params: { package: string }) => params.package.replace('prepay_id=', '');

async function orderFor(openid: string) {
  const at = clock.nowMs();
  const cert = await boundCertificate(app.deps, openid, { organization: `梅州重下单测试单位${++seq}`, notBefore: new Date(at - 300 * DAY), notAfter: new Date(at + 30 * DAY), sandbox: true, at: now() });
  await verifyHandler(app.deps, openid);
  return orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: now() });
}

/** The user presses 确认支付 in the sandbox cashier; waits until the notify reached the app. */
async function pay(prepayId: string) {
  const confirmed = sandboxPay().confirmPayment(prepayId);
  if ('error' in confirmed) throw new Error(confirmed.error);
  await confirmed.delivery;
  return confirmed.transaction;
}

describe(`WeChat Pay attempts keep time_expire (${backend})`, () => {
  it('When an order moved to 对公汇款 is paid by 微信支付 more than two hours after its first prepay, then the new prepay sends the same time_expire and the payment credits the order', async () => {
    const order = await orderFor('oAttempt1');
    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttempt1', now());
    const { expiresAt } = (await orders.getOrder(order.orderNo))!;
    expect(expiresAt.getTime()).toBe(clock.nowMs() + 7 * DAY);

    const first = await payments.jsapiParams(order.orderNo, 'oAttempt1');
    const atWechat = sandboxPay().transactions.get(order.orderNo)!;
    const sentFirst = atWechat.timeExpireSentMs;
    expect(sentFirst).toBe(toSecond(expiresAt.getTime()));

    // The prepay_id (2 hours) has gone: a new prepay of the same out_trade_no, with the same time_expire.
    clock.advance(2 * HOUR + 10 * MIN);
    const second = await payments.jsapiParams(order.orderNo, 'oAttempt1');
    expect(prepayIdOf(second)).not.toBe(prepayIdOf(first));
    expect(sandboxPay().transactions.get(order.orderNo)!.timeExpireSentMs).toBe(sentFirst);

    const tx = await pay(prepayIdOf(second));
    expect(tx.outTradeNo).toBe(order.orderNo);
    expect(await orders.getOrder(order.orderNo)).toMatchObject({ state: 'PAID', paymentMethod: 'wechatpay', transactionId: tx.transactionId });
  });

  it('When an order first prepaid 30 minutes before its deadline is extended by 对公汇款 and paid by 微信支付 after that time_expire passed, then the first out_trade_no is closed at WeChat Pay and a new one carrying the new deadline is paid', async () => {
    const order = await orderFor('oAttempt2');
    clock.advance(90 * MIN); // 30 minutes left of the order's 2 hours
    const first = await payments.jsapiParams(order.orderNo, 'oAttempt2');
    expect(sandboxPay().transactions.get(order.orderNo)!.timeExpireSentMs).toBe(toSecond(order.expiresAt.getTime()));

    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttempt2', now());
    const extended = (await orders.getOrder(order.orderNo))!.expiresAt;
    clock.advance(HOUR); // the first time_expire has passed; the order may still be paid for 7 days

    const second = await payments.jsapiParams(order.orderNo, 'oAttempt2');
    const attempts = await new WechatPayAttemptRepository().ofOrder(app.deps.db.manager, order.orderNo);
    expect(attempts.map((a) => [a.outTradeNo, a.timeExpire.getTime(), a.closedAt !== null])).toEqual([
      [order.orderNo, order.expiresAt.getTime(), true],
      [`${order.orderNo}-2`, extended.getTime(), false],
    ]);
    // Closed at WeChat Pay first: the old prepay can no longer be paid.
    expect(sandboxPay().transactions.get(order.orderNo)!.state).toBe('CLOSED');
    expect(sandboxPay().confirmPayment(prepayIdOf(first))).toEqual({ error: expect.any(String) });

    const tx = await pay(prepayIdOf(second));
    expect(tx).toMatchObject({ outTradeNo: `${order.orderNo}-2`, expiresAtMs: toSecond(extended.getTime()) });
    expect(await orders.getOrder(order.orderNo)).toMatchObject({ state: 'PAID', transactionId: tx.transactionId });
    // A tap after payment does not start another attempt.
    await expect(payments.jsapiParams(order.orderNo, 'oAttempt2')).rejects.toThrow();
    expect(await new WechatPayAttemptRepository().ofOrder(app.deps.db.manager, order.orderNo)).toHaveLength(2);
  });

  it('When an order paid on its second attempt is refunded as a whole, then the refund is asked on that attempt\'s out_trade_no and WeChat Pay takes it', async () => {
    const order = await orderFor('oAttemptRefund');
    clock.advance(90 * MIN);
    await payments.jsapiParams(order.orderNo, 'oAttemptRefund');
    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttemptRefund', now());
    clock.advance(HOUR);
    const tx = await pay(prepayIdOf(await payments.jsapiParams(order.orderNo, 'oAttemptRefund')));
    expect(tx.outTradeNo).toBe(`${order.orderNo}-2`);

    const refund = await new RefundService(app.deps).refundOrder(order.orderNo, '用户申请退款');
    expect(refund).toMatchObject({ outTradeNo: `${order.orderNo}-2`, outRefundNo: `RO${order.orderNo}`, state: 'PROCESSING' });
    expect(sandboxPay().refunds.get(`RO${order.orderNo}`)).toMatchObject({ outTradeNo: `${order.orderNo}-2`, refundFen: order.totalFen });
  });

  it('When the transfer arrives and the handler also pays the new attempt, then the second payment is refunded on that attempt\'s own out_trade_no and credited nothing', async () => {
    const order = await orderFor('oAttempt3');
    clock.advance(100 * MIN);
    await payments.jsapiParams(order.orderNo, 'oAttempt3');
    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttempt3', now());
    clock.advance(HOUR);
    const second = await payments.jsapiParams(order.orderNo, 'oAttempt3');
    await orders.markPaid(order.orderNo, { method: 'transfer', amountFen: order.totalFen, transactionId: `BANK${seq}`, paidAt: now() });

    await pay(prepayIdOf(second));
    const refunds = [...sandboxPay().refunds.values()].filter((r) => r.outTradeNo.startsWith(order.orderNo));
    expect(refunds.map((r) => [r.outTradeNo, r.refundFen])).toEqual([[`${order.orderNo}-2`, order.totalFen]]);
    expect(await orders.getOrder(order.orderNo)).toMatchObject({ state: 'PAID', paymentMethod: 'transfer', transactionId: `BANK${seq}` });
  });

  it('When the old attempt turns out to be paid (its notify lost) as a new one is about to be made, then WeChat Pay refuses the close, that payment credits the order and no new attempt is made', async () => {
    const order = await orderFor('oAttempt6');
    clock.advance(100 * MIN);
    await payments.jsapiParams(order.orderNo, 'oAttempt6');
    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttempt6', now());
    // Paid just before its time_expire; the notify never arrived (as WeChat Pay's own state, no delivery).
    Object.assign(sandboxPay().transactions.get(order.orderNo)!, { state: 'SUCCESS', transactionId: `4200${Date.now()}${seq}`, successTime: new Date(clock.nowMs()).toISOString() });
    clock.advance(HOUR);
    await expect(payments.jsapiParams(order.orderNo, 'oAttempt6')).rejects.toMatchObject({ userMessage: '订单已支付' });
    expect(await orders.getOrder(order.orderNo)).toMatchObject({ state: 'PAID', paymentMethod: 'wechatpay', transactionId: sandboxPay().transactions.get(order.orderNo)!.transactionId });
    expect(await new WechatPayAttemptRepository().ofOrder(app.deps.db.manager, order.orderNo)).toHaveLength(1);
  });

  it('When an order was prepaid before attempts were recorded (another time_expire at WeChat Pay), then the next tap closes that out_trade_no there and pays under a new one', async () => {
    const order = await orderFor('oAttempt5');
    await orders.choosePaymentMethod(order.orderNo, 'oAttempt5', 'wechatpay', now());
    // What the old code sent: min(order expiry, now + 2 h) with its own clock reading — not the order's deadline.
    await app.deps.wechatpay.jsapiPrepay({ outTradeNo: order.orderNo, description: '数字证书续期 1 张', amountFen: order.totalFen, openid: 'oAttempt5', expiresAtMs: clock.nowMs() + HOUR });
    const params = await payments.jsapiParams(order.orderNo, 'oAttempt5');
    expect(sandboxPay().transactions.get(order.orderNo)!.state).toBe('CLOSED');
    const tx = await pay(prepayIdOf(params));
    expect(tx.outTradeNo).toBe(`${order.orderNo}-2`);
    expect((await orders.getOrder(order.orderNo))!.state).toBe('PAID');
  });

  it('When an order with an open attempt expires, then the sweep closes that attempt at WeChat Pay before closing the order', async () => {
    const order = await orderFor('oAttempt4');
    clock.advance(100 * MIN);
    await payments.jsapiParams(order.orderNo, 'oAttempt4');
    await new TransferService(app.deps).codeFor(order.orderNo, 'oAttempt4', now());
    clock.advance(HOUR);
    await payments.jsapiParams(order.orderNo, 'oAttempt4');
    clock.advance(8 * DAY);
    const { closed } = await payments.closeExpired(now());
    expect(closed).toContain(order.orderNo);
    expect(sandboxPay().transactions.get(`${order.orderNo}-2`)!.state).toBe('CLOSED');
    expect((await new WechatPayAttemptRepository().open(app.deps.db.manager, order.orderNo))).toBeNull();
  });
});
