import { type CliIo } from '../../src/cli/bootstrap';
import { wechatpayBill } from '../../src/cli/wechatpay-bill';
import { OrderEntity } from '../../src/modules/orders/entities';
import { OrderService } from '../../src/modules/orders/service';
import { PaymentService } from '../../src/modules/payments/service';
import { RefundService } from '../../src/modules/refunds/service';
import { BillFindingEntity, BillRunEntity } from '../../src/modules/wechatpay-bills/entities';
import { beijingDay, WechatPayBillService } from '../../src/modules/wechatpay-bills/service';
import { WechatPayError } from '../../src/providers/wechatpay/types';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, TestClock, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';
import { until } from '../helpers/until';

/**
 * The daily trade bill check against the app's sandbox WeChat Pay over real HTTP: GET /v3/bill/tradebill (signed,
 * verified), the download URL (signed request, unsigned answer, SHA1 checked), and the comparison with our orders
 * and refunds, every mismatch kind. The clock is injected: the trades happen on one Beijing day, the check runs the
 * next morning.
 */
const DAY = 86_400_000;
// 11:00 in Beijing, three days ago: the trades' day.
const dayStart = Date.parse(`${beijingDay(Date.now() - 3 * DAY)}T11:00:00+08:00`);
const clock = new TestClock(dayStart);
let handle: TestBackendHandle;
let app: ListeningInstance;
let orders: OrderService;
let payments: PaymentService;
let refunds: RefundService;
let bills: WechatPayBillService;
let seq = 0;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { clock });
  orders = new OrderService(app.deps);
  payments = new PaymentService(app.deps);
  refunds = new RefundService(app.deps);
  bills = new WechatPayBillService(app.deps);
  pay().refundSettleMs = null;
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const pay = () => app.deps.sandboxWechatPay!;

/** An order of one certificate, prepaid at WeChat Pay, and paid in the sandbox cashier; `lostNotify`: WeChat Pay's notify never reaches us. */
async function paidOrder(openid: string, opts: { lostNotify?: boolean } = {}): Promise<{ orderNo: string }> {
  const now = clock.nowMs();
  const cert = await boundCertificate(app.deps, openid, { organization: `梅州对账测试单位${++seq}`, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true, at: new Date(now) });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  const params = await payments.jsapiParams(order.orderNo, openid);
  if (opts.lostNotify) {
    pay().transactions.get(order.orderNo)!.notifyUrl = 'http://127.0.0.1:9/notify-lost';
    pay().retryScheduleMs = [];
  }
  const paid = pay().confirmPayment(params.package.replace('prepay_id=', ''));
  if ('error' in paid) throw new Error(paid.error);
  await paid.delivery;
  if (!opts.lostNotify) await until(() => orders.getOrder(order.orderNo), (o) => o?.state === 'PAID');
  return { orderNo: order.orderNo };
}

const findingsOf = (day: string) => app.deps.db.getRepository(BillFindingEntity).find({ where: { billDate: day }, order: { id: 'ASC' } });

describe(`WeChat Pay trade bill check (${backend})`, () => {
  const tradeDay = beijingDay(dayStart);
  let matched: string;
  let lost: string;
  let phantom: string;
  let differing: string;
  let refundedHere: string;
  let platformRefund: string;

  beforeAll(async () => {
    matched = (await paidOrder('oBillMatched')).orderNo;
    lost = (await paidOrder('oBillLostNotify', { lostNotify: true })).orderNo;
    differing = (await paidOrder('oBillDiffering')).orderNo;
    refundedHere = (await paidOrder('oBillRefunded')).orderNo;
    platformRefund = (await paidOrder('oBillPlatformRefund')).orderNo;
    await refunds.refundOrder(refundedHere, '用户申请退款');
    // A refund made on the merchant platform (not through us); its notify is not sent while it stays PROCESSING.
    await app.deps.wechatpay.refund({ outTradeNo: platformRefund, outRefundNo: `PLATFORM${seq}`, refundFen: 100, totalFen: (await orders.getOrder(platformRefund))!.paidAmountFen! });
    // Our records disagree with WeChat Pay's in two ways a bug or a hand edit could cause.
    const repo = app.deps.db.getRepository(OrderEntity);
    await repo.update({ orderNo: differing }, { paidAmountFen: 1 });
    const now = clock.nowMs();
    const cert = await boundCertificate(app.deps, 'oBillPhantom', { organization: '梅州对账测试单位幽灵', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true, at: new Date(now) });
    await verifyHandler(app.deps, 'oBillPhantom');
    phantom = (await orders.createOrder({ openid: 'oBillPhantom', items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) })).orderNo;
    await repo.update({ orderNo: phantom }, { state: 'PAID', paymentMethod: 'wechatpay', paidAt: new Date(now), paidAmountFen: 20000, transactionId: '4200009999999999999999999999' });
    clock.set(Date.parse(`${beijingDay(dayStart + DAY)}T10:30:00+08:00`));
  });

  it('When the bill of a day is checked, then matching trades pass, a payment whose notify was lost is credited after our query, and every difference is a finding', async () => {
    expect((await orders.getOrder(lost))!.state).toBe('PENDING_PAYMENT');
    const { run } = await bills.check(tradeDay);
    expect(run).toMatchObject({ billDate: tradeDay, state: 'DONE', billRows: 7, findings: 2 });
    expect((await orders.getOrder(lost))!.state).toBe('PAID');
    const findings = await findingsOf(tradeDay);
    const byKind = (kind: string) => findings.filter((f) => f.kind === kind);
    expect(byKind('missing-here')).toEqual([expect.objectContaining({ outTradeNo: lost, outcome: 'credited', oursFen: null })]);
    expect(byKind('amount-mismatch')).toEqual([expect.objectContaining({ outTradeNo: differing, outcome: 'open', oursFen: 1 })]);
    // We hold a WeChat Pay payment the bill does not: never paid there.
    expect(byKind('missing-there')).toEqual([expect.objectContaining({ outTradeNo: phantom, transactionId: '4200009999999999999999999999', outcome: 'open' })]);
    expect(byKind('refund-missing-here')).toEqual([expect.objectContaining({ outTradeNo: platformRefund, outcome: 'recorded', theirsFen: 100 })]);
    expect((await refunds.ofOrder(platformRefund)).map((r) => r.kind)).toEqual(['external']);
    expect(findings.some((f) => f.outTradeNo === matched || f.outTradeNo === refundedHere)).toBe(false);
  });

  it('When a day is checked again, then nothing is credited or recorded twice and the open findings are not duplicated', async () => {
    const before = await findingsOf(tradeDay);
    const { run } = await bills.check(tradeDay);
    const after = await findingsOf(tradeDay);
    expect(run.attempts).toBe(2);
    expect(after.filter((f) => f.outcome !== 'open')).toEqual(before.filter((f) => f.outcome !== 'open'));
    expect(after.map((f) => `${f.kind}:${f.outTradeNo}`).sort()).toEqual(before.map((f) => `${f.kind}:${f.outTradeNo}`).sort());
    expect(await refunds.ofOrder(platformRefund)).toHaveLength(1);
  });

  it('When an operator handles a finding through the command, then it leaves the open list', async () => {
    const open = (await findingsOf(tradeDay)).find((f) => f.kind === 'amount-mismatch')!;
    const lines: string[] = [];
    const io: CliIo = { env: { ...handle.env, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', USER: 'tester' }, out: (l) => lines.push(l), err: (l) => lines.push(l) };
    await wechatpayBill(io, []);
    expect(lines.join('\n')).toContain(`#${open.id}`);
    lines.length = 0;
    await wechatpayBill(io, ['--resolve', String(open.id), '--by', '财务张三']);
    expect(lines).toEqual([`Finding #${open.id} marked as handled by 财务张三.`]);
    expect((await bills.findings({ openOnly: true })).map((f) => f.id)).not.toContain(open.id);
  });

  it('When a day had no trades, then WeChat Pay answers NO_STATEMENT_EXIST and the day is recorded as empty', async () => {
    const quiet = beijingDay(dayStart - DAY);
    const { run, findings } = await bills.check(quiet);
    expect(run).toMatchObject({ state: 'EMPTY', billRows: 0, findings: 0 });
    expect(findings).toEqual([]);
  });

  it('When the bill file does not match the SHA1 of the signed answer, then it is refused, the day stays to be done, and a later pass completes it', async () => {
    pay().billFiles.tamperNext = true;
    await expect(app.deps.wechatpay.tradeBill(tradeDay)).rejects.toThrow(WechatPayError);
    pay().billFiles.tamperNext = true;
    await expect(bills.check(tradeDay)).rejects.toThrow(/SHA1/);
    expect(await app.deps.db.getRepository(BillRunEntity).findOneBy({ billDate: tradeDay })).toMatchObject({ state: 'FAILED', lastError: expect.stringContaining('SHA1') });
    expect(await bills.dueDays()).toContain(tradeDay);
    expect((await bills.check(tradeDay)).run.state).toBe('DONE');
    expect(await bills.dueDays()).not.toContain(tradeDay);
  });

  it('When the bill names a download host that is not WeChat Pay, then our signature is never sent there', async () => {
    pay().billFiles.downloadBaseOverride = 'http://127.0.0.1:9';
    await expect(app.deps.wechatpay.tradeBill(tradeDay)).rejects.toThrow(/not WeChat Pay's/);
  });

  it('When it is before 10:00 in Beijing, then yesterday is not due yet; after, it is', async () => {
    const today = Date.parse(`${beijingDay(dayStart + 2 * DAY)}T09:30:00+08:00`);
    clock.set(today);
    const yesterday = beijingDay(today - DAY);
    expect(await bills.dueDays()).not.toContain(yesterday);
    clock.set(today + 3600_000);
    expect(await bills.dueDays()).toContain(yesterday);
    expect(await bills.dueDays()).not.toContain(tradeDay);
  });
});
