import request from 'supertest';
import { inTransaction } from '../../src/lib/db/transaction';
import { HandlerAuthorisationEntity } from '../../src/modules/handler-authorisation/entities';
import { HandlerAuthorisationService } from '../../src/modules/handler-authorisation/service';
import { NoticeOutbox, NoticeOutboxEntity } from '../../src/modules/notices/outbox';
import { OrderService } from '../../src/modules/orders/service';
import { PaymentService } from '../../src/modules/payments/service';
import { TransferService } from '../../src/modules/transfers/service';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * Notices owed after a commit survive a crash between the commit and the enqueue: the crash is simulated by a job
 * queue whose next add of that job fails (the commit happened, the job never did). WeChat Pay's retry of the notify
 * (outcome `already`), or the periodic pass, then delivers it — exactly once, whatever else finds the order credited.
 * The app listens, so its WeChat client and WeChat Pay client talk over HTTP to its own sandboxes, which record every
 * template message call.
 */
const DAY = 86_400_000;
let seq = 0;
let handle: TestBackendHandle;
let app: ListeningInstance;

/** Every job added, by name; `crashOnNext` makes the next add of that job fail as a process dying there would. */
const added: string[] = [];
const crashOnNext = new Set<string>();
beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { env: { TRUST_PROXY: 'true' } });
  const jobs = app.deps.jobs;
  const enqueue = jobs.enqueue.bind(jobs);
  jobs.enqueue = async (name, payload, opts) => {
    if (crashOnNext.delete(name)) throw new Error(`simulated crash before queueing ${name}`);
    added.push(name);
    return enqueue(name, payload, opts);
  };
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const outbox = () => new NoticeOutbox(app.deps);
const templateCalls = (openid: string) => app.deps.sandboxWechat!.calls.filter((c) => c.api.includes('message/template/send') && (c.request as { touser?: string }).touser === openid);
async function until(check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** The periodic pass as it runs a few minutes after the notices were recorded. */
const periodicPass = () => outbox().queueOwed(new Date(Date.now() + 5 * 60_000));

async function orderOf(openid: string) {
  const now = Date.now();
  app.deps.sandboxWechat!.recordInteraction(openid, 'subscribe');
  await verifyHandler(app.deps, openid);
  const organization = `梅州市通知箱测试单位${++seq}`;
  const cert = await boundCertificate(app.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
  const order = await new OrderService(app.deps).createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  return { orderNo: order.orderNo, totalFen: order.totalFen, organization };
}

/** A transaction WeChat Pay reports for the order (in a notify or a query answer). */
const transactionOf = (orderNo: string, totalFen: number, transactionId: string) => ({
  appid: app.deps.wechatpay.appId, mchid: app.deps.wechatpay.mchId, out_trade_no: orderNo, transaction_id: transactionId,
  trade_type: 'JSAPI', trade_state: 'SUCCESS' as const, trade_state_desc: '支付成功', success_time: new Date().toISOString(),
  payer: { openid: 'o' }, amount: { total: totalFen, payer_total: totalFen, currency: 'CNY', payer_currency: 'CNY' },
});
async function postNotify(resource: Record<string, unknown>): Promise<number> {
  const n = app.deps.sandboxWechatPay!.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', resource);
  const res = await request(app.app.callback()).post('/pay/wechat/notify').set(n.headers).send(n.body);
  return res.status;
}

describe(`owed notices (${backend})`, () => {
  it('When the same notice is recorded twice, then the second keeps the first row without an error', async () => {
    const notice = { key: `test:recorded-twice:${++seq}`, job: 'notices.test', payload: { n: 1 } };
    await inTransaction(app.deps.db, (em) => NoticeOutbox.record(em, notice, new Date()));
    // On a connection that has inserted nothing yet (MySQL then reports insertId 0 for the ignored row).
    const fresh = app.deps.db.createQueryRunner();
    try {
      await NoticeOutbox.record(fresh.manager, { ...notice, payload: { n: 2 } }, new Date());
    } finally {
      await fresh.release();
    }
    const rows = await app.deps.db.getRepository(NoticeOutboxEntity).findBy({ noticeKey: notice.key });
    expect(rows.map((r) => JSON.parse(r.payload))).toEqual([{ n: 1 }]);
    // It stays out of the periodic pass the other tests count.
    await app.deps.db.getRepository(NoticeOutboxEntity).delete({ noticeKey: notice.key });
  });

  it('When the process dies between crediting a payment and queueing 订单支付成功, then WeChat Pay\'s retry (outcome already) delivers it once, and later retries and the pass send nothing more', async () => {
    const openid = 'oOutboxRetry';
    const { orderNo, totalFen } = await orderOf(openid);
    const tx = transactionOf(orderNo, totalFen, `4200OUTBOX${Date.now()}`);
    crashOnNext.add('orders.paid-notice');
    expect(await postNotify(tx)).toBe(500);
    expect((await new OrderService(app.deps).getOrder(orderNo))!.state).toBe('PAID');
    expect(await outbox().stateOf(`paid-${orderNo}`)).toBe('owed');

    expect(await postNotify(tx)).toBe(204);
    await until(async () => (await outbox().stateOf(`paid-${orderNo}`)) === 'sent');
    expect(templateCalls(openid)).toHaveLength(1);
    expect(templateCalls(openid)[0].request).toMatchObject({ client_msg_id: `paid-${orderNo}`, data: { character_string1: { value: orderNo } } });

    // Another retry and the pass find it sent: nothing is queued, so nothing more can go out.
    const queuedBefore = added.filter((n) => n === 'orders.paid-notice').length;
    expect(await postNotify(tx)).toBe(204);
    expect((await periodicPass()).queued).toBe(0);
    expect(added.filter((n) => n === 'orders.paid-notice').length).toBe(queuedBefore);
    expect(templateCalls(openid)).toHaveLength(1);
  });

  it('When the process dies between crediting and queueing and no notify comes again, then the periodic pass delivers 订单支付成功 once', async () => {
    const openid = 'oOutboxPass';
    const { orderNo, totalFen } = await orderOf(openid);
    crashOnNext.add('orders.paid-notice');
    await expect(new PaymentService(app.deps).credit(transactionOf(orderNo, totalFen, `4200PASS${Date.now()}`))).rejects.toThrow('simulated crash');
    expect(await outbox().stateOf(`paid-${orderNo}`)).toBe('owed');

    expect((await periodicPass()).queued).toBeGreaterThanOrEqual(1);
    await until(async () => (await outbox().stateOf(`paid-${orderNo}`)) === 'sent');
    expect((await periodicPass()).queued).toBe(0);
    expect(templateCalls(openid)).toHaveLength(1);
  });

  it('When notifies, reconcile and the sweep all credit one payment at once, then the handler gets one 订单支付成功', async () => {
    const openid = 'oOutboxRace';
    const { orderNo, totalFen } = await orderOf(openid);
    const payments = new PaymentService(app.deps);
    const pay = app.deps.sandboxWechatPay!;
    await payments.orders.choosePaymentMethod(orderNo, openid, 'wechatpay', new Date());
    // WeChat Pay's own notify goes nowhere: the payment is known only to its API until the notifies below.
    const { prepayId } = await app.deps.wechatpay.jsapiPrepay({
      outTradeNo: orderNo, description: '数字证书续期 1 张', amountFen: totalFen, openid, expiresAtMs: Date.now() + 3_600_000, notifyUrl: 'http://127.0.0.1:9/lost',
    });
    const schedule = pay.retryScheduleMs;
    pay.retryScheduleMs = [];
    const confirmed = pay.confirmPayment(prepayId);
    if ('error' in confirmed) throw new Error(confirmed.error);
    await confirmed.delivery.catch(() => undefined);
    pay.retryScheduleMs = schedule;
    const tx = pay.transactionJson(confirmed.transaction);

    const later = new Date(Date.now() + 3 * 3_600_000);
    const statuses = await Promise.all([postNotify(tx), postNotify(tx), payments.reconcile(orderNo).then(() => 0), payments.closeExpired(later).then(() => 0), postNotify(tx)]);
    expect(statuses.filter((s) => s !== 0)).toEqual([204, 204, 204]);
    await until(async () => (await outbox().stateOf(`paid-${orderNo}`)) === 'sent');
    expect((await periodicPass()).queued).toBe(0);
    expect(templateCalls(openid)).toHaveLength(1);
  });

  it('When the process dies between settling a rejected transfer line and queueing 汇款未通过, then a re-import skips the line and the periodic pass delivers the notice once', async () => {
    const openid = 'oOutboxTransfer';
    const order = await orderOf(openid);
    const transfers = new TransferService(app.deps);
    const { code } = await transfers.codeFor(order.orderNo, openid, new Date());
    const line = { line: 2, date: '2026-11-25', payerName: order.organization, payerAccount: '4400100', payerBank: '建设银行', amount: ((order.totalFen - 100) / 100).toFixed(2), remark: code, bankSerial: `NOUT${Date.now()}` };
    crashOnNext.add('orders.transfer-rejected-notice');
    await expect(transfers.importLines([line], 'outbox.csv', new Date())).rejects.toThrow('simulated crash');
    expect(await transfers.importLines([line], 'outbox.csv', new Date())).toEqual([expect.objectContaining({ result: 'skipped' })]);
    expect(await outbox().stateOf(`rej-${line.bankSerial}`)).toBe('owed');

    expect((await periodicPass()).queued).toBeGreaterThanOrEqual(1);
    await until(async () => (await outbox().stateOf(`rej-${line.bankSerial}`)) === 'sent');
    expect(templateCalls(openid)).toHaveLength(1);
    expect(templateCalls(openid)[0].request).toMatchObject({ data: { thing3: { value: '汇款金额与订单金额不符' } } });
  });

  it('When the process dies between an operator\'s decision and queueing 审核结果通知, then deciding again changes nothing and the periodic pass delivers it once', async () => {
    const organization = `梅州市审核通知箱单位${++seq}`;
    const now = Date.now();
    const certOf = (openid: string) => boundCertificate(app.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
    const orders = new OrderService(app.deps);
    await verifyHandler(app.deps, 'oOutboxReviewFirst');
    await orders.createOrder({ openid: 'oOutboxReviewFirst', items: [{ certificateId: (await certOf('oOutboxReviewFirst')).id, years: 1 }], at: new Date() });
    const openid = 'oOutboxReview';
    app.deps.sandboxWechat!.recordInteraction(openid, 'subscribe');
    await verifyHandler(app.deps, openid);
    const cert = await certOf(openid);
    await expect(orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() })).rejects.toThrow();
    const pending = (await app.deps.db.getRepository(HandlerAuthorisationEntity).find({ where: { openid, state: 'PENDING' } }))[0];
    const authorisation = new HandlerAuthorisationService(app.deps);

    crashOnNext.add('handlers.review-notice');
    await expect(authorisation.approve(pending.id, 'operator:tester', new Date())).rejects.toThrow('simulated crash');
    expect((await authorisation.approve(pending.id, 'operator:tester', new Date())).changed).toBe(false);

    expect((await periodicPass()).queued).toBeGreaterThanOrEqual(1);
    await until(() => templateCalls(openid).length > 0);
    expect((await periodicPass()).queued).toBe(0);
    expect(templateCalls(openid)).toHaveLength(1);
    expect(templateCalls(openid)[0].request).toMatchObject({ data: { phrase2: { value: '审核通过' } } });
  });
});
