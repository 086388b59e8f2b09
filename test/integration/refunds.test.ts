import { type CliIo } from '../../src/cli/bootstrap';
import { refundExceptions } from '../../src/cli/refund-exceptions';
import { OrderService } from '../../src/modules/orders/service';
import { PaymentService } from '../../src/modules/payments/service';
import { RefundService } from '../../src/modules/refunds/service';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';
import { until } from '../helpers/until';

/**
 * Refunds on record: money we cannot keep (a payment for a closed order) and an order refunded as a whole, against
 * the app's sandbox WeChat Pay over real HTTP — refund requests, signed and encrypted REFUND.* notifies to
 * /pay/wechat/notify, and GET /v3/refund/domestic/refunds/{out_refund_no} when a notify does not come.
 */
const DAY = 86_400_000;
let handle: TestBackendHandle;
let app: ListeningInstance;
let orders: OrderService;
let payments: PaymentService;
let refunds: RefundService;
let seq = 0;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { env: { TRUST_PROXY: 'true' } });
  orders = new OrderService(app.deps);
  payments = new PaymentService(app.deps);
  refunds = new RefundService(app.deps);
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const pay = () => app.deps.sandboxWechatPay!;

async function orderWithPrepay(openid: string) {
  const now = Date.now();
  const cert = await boundCertificate(app.deps, openid, { organization: `梅州退款测试单位${++seq}`, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  const params = await payments.jsapiParams(order.orderNo, openid);
  return { orderNo: order.orderNo, prepayId: params.package.replace('prepay_id=', '') };
}

/** The user pays an order we closed meanwhile: the notify arrives, nothing is credited, the money must go back. */
async function latePayment(openid: string): Promise<{ orderNo: string; outRefundNo: string }> {
  const { orderNo, prepayId } = await orderWithPrepay(openid);
  await orders.cancel(orderNo, openid, new Date());
  const paid = pay().confirmPayment(prepayId);
  if ('error' in paid) throw new Error(paid.error);
  await paid.delivery;
  const [refund] = await until(() => refunds.ofOrder(orderNo), (r) => r.length > 0);
  return { orderNo, outRefundNo: refund.outRefundNo };
}

async function cli(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const io: CliIo = { env: { ...handle.env, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', USER: 'tester' }, out: (l) => lines.push(l), err: (l) => lines.push(l) };
  await refundExceptions(io, args);
  return lines;
}

describe(`refunds (${backend})`, () => {
  beforeEach(() => {
    pay().refundSettleMs = null;
  });

  it('When a payment arrives for an order we closed, then the refund is on record, WeChat Pay is asked once, and its REFUND.SUCCESS notify settles it', async () => {
    pay().refundSettleMs = 50;
    const { orderNo, outRefundNo } = await latePayment('oRefundLate');
    const settled = await until(() => refunds.ofOrder(orderNo), (r) => r[0]?.state === 'SUCCESS');
    expect(settled).toEqual([expect.objectContaining({ outRefundNo, kind: 'late-payment', state: 'SUCCESS', amountFen: 20000, refundId: pay().refunds.get(outRefundNo)!.refundId })]);
    expect(settled[0].settledAt).not.toBeNull();
    expect([...pay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toHaveLength(1);
    // The sandbox marks the notify delivered when our 204 reaches it, just after the row changed.
    expect(await until(async () => pay().deliveries.some((d) => d.eventType === 'REFUND.SUCCESS' && d.delivered), Boolean)).toBe(true);
    expect((await orders.getOrder(orderNo))!.state).toBe('CLOSED');
  });

  it('When WeChat Pay sends a late payment\'s notify again, then it is taken without an error and one refund stays', async () => {
    const { orderNo } = await latePayment('oRefundLateTwice');
    // The retried notify carries the transaction as it was when paid (SUCCESS), whatever happened since.
    const tx = { ...(await app.deps.wechatpay.queryByOutTradeNo(orderNo))!, trade_state: 'SUCCESS' as const };
    await expect(payments.credit(tx)).resolves.toMatchObject({ kind: 'credited', outcome: 'late-payment' });
    expect(await refunds.ofOrder(orderNo)).toHaveLength(1);
    expect([...pay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toHaveLength(1);
  });

  it('When WeChat Pay reports a refund ABNORMAL, then refunds:exceptions lists it for a person, and --resolve takes it off the list', async () => {
    const { outRefundNo } = await latePayment('oRefundAbnormal');
    await pay().completeRefund(outRefundNo, 'ABNORMAL');
    const [row] = await until(() => refunds.ofOrder(pay().refunds.get(outRefundNo)!.outTradeNo), (r) => r[0]?.state === 'ABNORMAL');
    expect(row.state).toBe('ABNORMAL');

    const listed = await cli([]);
    expect(listed.join('\n')).toContain(`${outRefundNo}  ABNORMAL`);
    expect(await cli(['--resolve', outRefundNo])).toEqual([`Refund ${outRefundNo} marked as handled by tester.`]);
    expect((await cli([])).join('\n')).not.toContain(outRefundNo);
  });

  it('When a refund\'s notify never comes, then the refunds pass queries WeChat Pay and records how it ended (CLOSED: an exception)', async () => {
    const { orderNo, outRefundNo } = await latePayment('oRefundLost');
    expect((await refunds.ofOrder(orderNo))[0].state).toBe('PROCESSING');
    // WeChat Pay closed it; its notify is lost.
    pay().refunds.get(outRefundNo)!.status = 'CLOSED';
    expect((await refunds.followOpen(new Date())).queried).toBe(0); // too young to ask about
    const result = await refunds.followOpen(new Date(Date.now() + 10 * 60_000));
    expect(result.queried).toBeGreaterThanOrEqual(1);
    expect((await refunds.ofOrder(orderNo))[0].state).toBe('CLOSED');
    expect((await refunds.exceptions()).map((r) => r.outRefundNo)).toContain(outRefundNo);
  });

  it('When the refund request\'s answer cannot be trusted, then the refund stays REQUESTED and the pass asks again with the same out_refund_no: one refund at WeChat Pay', async () => {
    const { orderNo, prepayId } = await orderWithPrepay('oRefundRetry');
    await orders.cancel(orderNo, 'oRefundRetry', new Date());
    // The refund call's answer is altered after signing (the next WeChat Pay answer after the notify).
    pay().tamperNextResponse = true;
    const paid = pay().confirmPayment(prepayId);
    if ('error' in paid) throw new Error(paid.error);
    await paid.delivery;
    const [requested] = await until(() => refunds.ofOrder(orderNo), (r) => r.length > 0);
    expect(requested).toMatchObject({ state: 'REQUESTED', attempts: 1 });
    expect(requested.lastError).toContain('bad-response-signature');

    const result = await refunds.followOpen(new Date(Date.now() + 2 * 60_000));
    expect(result.resubmitted).toBeGreaterThanOrEqual(1);
    expect((await refunds.ofOrder(orderNo))[0]).toMatchObject({ state: 'PROCESSING', attempts: 2 });
    expect([...pay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toHaveLength(1);
  });

  it('When a paid order is refunded as a whole (twice), then one refund is recorded and sent, the order is REFUNDING, and REFUND.SUCCESS makes it REFUNDED', async () => {
    const { orderNo, prepayId } = await orderWithPrepay('oRefundOrder');
    const paid = pay().confirmPayment(prepayId);
    if ('error' in paid) throw new Error(paid.error);
    await paid.delivery;
    expect((await orders.getOrder(orderNo))!.state).toBe('PAID');

    const first = await refunds.refundOrder(orderNo, '用户申请退款');
    const again = await refunds.refundOrder(orderNo, '用户申请退款');
    expect(first).toMatchObject({ outRefundNo: `RO${orderNo}`, kind: 'order', state: 'PROCESSING' });
    expect(again.id).toBe(first.id);
    expect((await orders.getOrder(orderNo))!.state).toBe('REFUNDING');
    expect([...pay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toHaveLength(1);

    await pay().completeRefund(`RO${orderNo}`, 'SUCCESS');
    expect((await until(() => orders.getOrder(orderNo), (o) => o!.state === 'REFUNDED'))!.state).toBe('REFUNDED');
    expect((await refunds.ofOrder(orderNo))[0].state).toBe('SUCCESS');
  });
});
