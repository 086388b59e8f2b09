import { inTransaction } from '../../src/lib/db/transaction';
import { type AppError } from '../../src/lib/errors';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate } from '../../src/modules/certificates/entities';
import { CertificateRepository } from '../../src/modules/certificates/repository';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { OrderLineEntity } from '../../src/modules/orders/entities';
import { ORDER_NO_PATTERN } from '../../src/modules/orders/order-number';
import { NoPriceRuleError, PriceRuleRepository } from '../../src/modules/orders/price-rules';
import { RenewalPreview } from '../../src/modules/orders/renewal-preview';
import { OpenOrderExistsError, ORDER_TTL_MS, OrderRefusedError, OrderService, PaymentAmountMismatchError } from '../../src/modules/orders/service';
import { InvalidTransitionError } from '../../src/modules/orders/states';
import { backend } from '../helpers/harness';
import { verifyHandler } from '../helpers/handlers';
import { issueCertificate, TEST_PROJECT } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/** Price rules and renewal orders on the real database: creation rules, the one-open-order rule, payment credit, expiry. */
const DAY = 86_400_000;
let orders: OrderService;
let preview: RenewalPreview;
let seq = 0;

const t = useTestApp({ startJobs: false });
// Runs after useTestApp's beforeAll (hooks run in the order they are registered): the instance is up.
beforeAll(async () => {
  orders = new OrderService(t.instance.deps);
  preview = new RenewalPreview(t.instance.deps);
});

/** A real CA-issued certificate, presented once (so known), expiring in `days` (30: inside the renewal window). */
async function knownCertificate(opts: { days?: number; certType?: string } = {}): Promise<Certificate> {
  const now = Date.now();
  const mediaSerial = `7700${String(++seq).padStart(4, '0')}${String(now % 100000000).padStart(8, '0')}`;
  const issued = await issueCertificate(t.instance.deps.ca, {
    mediaSerial, organization: `梅州订单测试单位${seq}`, certType: opts.certType, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + (opts.days ?? 30) * DAY),
  });
  return certificateServiceFor(t.instance.deps).acceptPresented({ pem: issued.certificatePem, mediaSerial, at: new Date(now) });
}

async function bound(openid: string, opts: { days?: number; certType?: string } = {}): Promise<Certificate> {
  const cert = await knownCertificate(opts);
  await inTransaction(t.instance.deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: false }, new Date()));
  await verifyHandler(t.instance.deps, openid);
  return cert;
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a refusal');
}

const pay = (orderNo: string, amountFen: number, transactionId = `4200${orderNo.slice(-12)}`) =>
  orders.markPaid(orderNo, { method: 'wechatpay', amountFen, transactionId, paidAt: new Date() });

describe(`price rules (${backend})`, () => {
  it('When the seed rule is looked up, then 梅州市住房公积金 机构证书 costs 20000 fen a year for 1–5 years, and another type has none', async () => {
    const repo = new PriceRuleRepository();
    const rule = await repo.findInForce(t.instance.deps.db.manager, TEST_PROJECT, '机构证书', new Date());
    expect(rule).toMatchObject({ unitPriceFen: 20000, allowedYears: '1,2,3,4,5', effectiveTo: null });
    expect(await repo.findInForce(t.instance.deps.db.manager, TEST_PROJECT, '个人证书', new Date())).toBeNull();
    const err = await refusal(repo.require(t.instance.deps.db.manager, TEST_PROJECT, '个人证书', new Date()));
    expect(err).toBeInstanceOf(NoPriceRuleError);
    expect(err.userMessage).toBe('该证书暂不支持在线续期，请联系客服 95105813');
  });

  it('When a new price takes effect later and an old one ends, then the lookup follows the time asked', async () => {
    const repo = new PriceRuleRepository();
    const em = t.instance.deps.db.manager;
    const t0 = new Date('2030-01-01T00:00:00Z');
    await repo.add(em, { project: '测试项目', certType: '设备证书', unitPriceFen: 10000, allowedYears: '1', effectiveFrom: t0, effectiveTo: new Date('2031-01-01T00:00:00Z') }, new Date());
    await repo.add(em, { project: '测试项目', certType: '设备证书', unitPriceFen: 15000, allowedYears: '1,2', effectiveFrom: new Date('2030-07-01T00:00:00Z'), effectiveTo: null }, new Date());
    expect(await repo.findInForce(em, '测试项目', '设备证书', new Date('2029-12-31T23:59:59Z'))).toBeNull();
    expect((await repo.findInForce(em, '测试项目', '设备证书', t0))?.unitPriceFen).toBe(10000);
    expect((await repo.findInForce(em, '测试项目', '设备证书', new Date('2030-08-01T00:00:00Z')))?.unitPriceFen).toBe(15000);
    expect((await repo.findInForce(em, '测试项目', '设备证书', new Date('2032-01-01T00:00:00Z')))?.unitPriceFen).toBe(15000);
  });
});

describe(`creating orders (${backend})`, () => {
  it('When a handler orders two bound certificates for 3 years, then the server prices 20000 × 3 × 2 fen and the order waits 2 hours for payment', async () => {
    const a = await bound('oOrderA');
    const b = await bound('oOrderA');
    const at = new Date();
    const order = await orders.createOrder({ openid: 'oOrderA', items: [{ certificateId: a.id, years: 3 }, { certificateId: b.id, years: 3 }], at });
    expect(order.orderNo).toMatch(ORDER_NO_PATTERN);
    expect(order).toMatchObject({ state: 'PENDING_PAYMENT', totalFen: 120000, currency: 'CNY', years: 3, paymentMethod: null, openid: 'oOrderA' });
    expect(order.expiresAt.getTime()).toBe(at.getTime() + ORDER_TTL_MS);
    expect(order.lines.map((l) => [l.certificateId, l.years, l.unitPriceFen, l.amountFen])).toEqual([[a.id, 3, 20000, 60000], [b.id, 3, 20000, 60000]]);

    const found = await orders.findOrder(order.orderNo, 'oOrderA');
    expect(found).toMatchObject({ orderNo: order.orderNo, totalFen: 120000, state: 'PENDING_PAYMENT' });
    expect(found.lines).toHaveLength(2);
    expect((await orders.listOrders('oOrderA')).map((o) => o.orderNo)).toContain(order.orderNo);
    // IDOR: another handler's order is "not found", like a missing one.
    expect((await refusal(orders.findOrder(order.orderNo, 'oSomeoneElse'))).status).toBe(404);
    expect(await orders.listOrders('oSomeoneElse')).toEqual([]);
  });

  it('When lines have different terms, then each is priced on its own and the header term is empty', async () => {
    const a = await bound('oOrderMixed');
    const b = await bound('oOrderMixed');
    const order = await orders.createOrder({ openid: 'oOrderMixed', items: [{ certificateId: a.id, years: 1 }, { certificateId: b.id, years: 5 }], at: new Date() });
    expect(order).toMatchObject({ totalFen: 120000, years: null });
  });

  it('When a certificate is already in an open order, then a second order is refused naming that order, and after it closes a new one is allowed', async () => {
    const cert = await bound('oOrderTwice');
    const other = await bound('oOrderTwice');
    const first = await orders.createOrder({ openid: 'oOrderTwice', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    const err = await refusal(orders.createOrder({ openid: 'oOrderTwice', items: [{ certificateId: other.id, years: 1 }, { certificateId: cert.id, years: 2 }], at: new Date() }));
    expect(err).toBeInstanceOf(OpenOrderExistsError);
    expect(err.userMessage).toBe('该证书已有待支付的订单');
    expect((err as OpenOrderExistsError).orderNo).toBe(first.orderNo);
    expect((err as OpenOrderExistsError).certificateId).toBe(cert.id);

    // A second handler bound to the same certificate is refused too, without learning the other's order number.
    await inTransaction(t.instance.deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid: 'oOrderTwice2', source: 'capc', sandbox: false }, new Date()));
    await verifyHandler(t.instance.deps, 'oOrderTwice2');
    const theirs = await refusal(orders.createOrder({ openid: 'oOrderTwice2', items: [{ certificateId: cert.id, years: 1 }], at: new Date() }));
    expect(theirs).toBeInstanceOf(OpenOrderExistsError);
    expect((theirs as OpenOrderExistsError).orderNo).toBeNull();

    expect(await orders.cancel(first.orderNo, 'oOrderTwice', new Date())).toMatchObject({ changed: true, order: { state: 'CLOSED', closeReason: 'cancelled' } });
    const lines = await t.instance.deps.db.manager.find(OrderLineEntity, { where: { orderId: first.id } });
    expect(lines.map((l) => l.openKey)).toEqual([null]);
    const again = await orders.createOrder({ openid: 'oOrderTwice', items: [{ certificateId: cert.id, years: 2 }], at: new Date() });
    expect(again).toMatchObject({ state: 'PENDING_PAYMENT', totalFen: 40000 });
  });

  it('When ten orders for one certificate race, then exactly one is created and the others are refused as open-order conflicts', async () => {
    const cert = await bound('oOrderRace');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => orders.createOrder({ openid: 'oOrderRace', items: [{ certificateId: cert.id, years: 1 }], at: new Date() })));
    const created = results.filter((r) => r.status === 'fulfilled');
    expect(created).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(OpenOrderExistsError);
  });

  it('When the certificate is not bound, bound to someone else, unbound, revoked, outside its window or has no price, then the order is refused with the reason', async () => {
    const cert = await knownCertificate();
    const reasonOf = async (openid: string, certificateId: number, at = new Date()) => {
      const err = await refusal(orders.createOrder({ openid, items: [{ certificateId, years: 1 }], at }));
      return err instanceof OrderRefusedError ? [err.reason, err.userMessage] : [err.constructor.name, err.userMessage];
    };
    expect(await reasonOf('oNobody', cert.id)).toEqual(['not-bound', '该证书未绑定到您的微信，请先绑定证书']);
    expect(await reasonOf('oNobody', 987654321)).toEqual(['not-bound', '该证书未绑定到您的微信，请先绑定证书']);

    const mine = await bound('oOwner');
    expect((await reasonOf('oStranger', mine.id))[0]).toBe('not-bound');
    await inTransaction(t.instance.deps.db, (em) => new BindingRepository().unbind(em, mine.id, 'oOwner', new Date()));
    expect((await reasonOf('oOwner', mine.id))[0]).toBe('not-bound');

    const revoked = await bound('oOwner');
    await new CertificateRepository().markRevoked(t.instance.deps.db.manager, revoked.id, new Date());
    expect((await reasonOf('oOwner', revoked.id))[0]).toBe('revoked');

    const current = await bound('oOwner');
    expect(await reasonOf('oOwner', current.id, new Date(current.notAfter.getTime() + 366 * DAY))).toEqual(['renewal-closed', '已超过续期期限，请联系 CA 重新办理']);
    const young = await bound('oOwner', { days: 365 });
    expect((await reasonOf('oOwner', young.id))[0]).toBe('renewal-not-yet');
    // The last day of the window (365 days after expiry) still counts.
    await expect(orders.createOrder({ openid: 'oOwner', items: [{ certificateId: current.id, years: 1 }], at: new Date(current.notAfter.getTime() + 364 * DAY) })).resolves.toMatchObject({ totalFen: 20000 });

    const personal = await bound('oOwner', { certType: '个人证书' });
    expect(await reasonOf('oOwner', personal.id)).toEqual(['NoPriceRuleError', '该证书暂不支持在线续期，请联系客服 95105813']);

    const fine = await bound('oOwner');
    expect((await refusal(orders.createOrder({ openid: 'oOwner', items: [{ certificateId: fine.id, years: 6 }], at: new Date() }))).status).toBe(400);
    expect((await refusal(orders.createOrder({ openid: 'oOwner', items: [], at: new Date() }))).status).toBe(400);
    expect((await refusal(orders.createOrder({ openid: 'oOwner', items: [{ certificateId: fine.id, years: 1 }, { certificateId: fine.id, years: 1 }], at: new Date() }))).status).toBe(400);
    // Nothing of the refused attempts holds the certificate.
    await expect(orders.createOrder({ openid: 'oOwner', items: [{ certificateId: fine.id, years: 1 }], at: new Date() })).resolves.toMatchObject({ totalFen: 20000 });
  });
});

describe(`renewal options (${backend})`, () => {
  it('When the 续期缴费 page asks, then each bound certificate comes with its price and terms, or why it cannot be ordered', async () => {
    const ok = await bound('oOptions');
    const young = await bound('oOptions', { days: 365 });
    const personal = await bound('oOptions', { certType: '个人证书' });
    const held = await bound('oOptions');
    const order = await orders.createOrder({ openid: 'oOptions', items: [{ certificateId: held.id, years: 1 }], at: new Date() });
    const options = await preview.renewalOptions('oOptions', new Date());
    const byId = new Map(options.map((o) => [o.certificate.id, o]));
    expect(options).toHaveLength(4);
    expect(byId.get(ok.id)).toMatchObject({ refusal: null, unitPriceFen: 20000, allowedYears: [1, 2, 3, 4, 5], openOrderNo: null });
    expect(byId.get(young.id)).toMatchObject({ refusal: 'renewal-not-yet', unitPriceFen: null });
    expect(byId.get(personal.id)).toMatchObject({ refusal: 'no-price-rule', userMessage: '该证书暂不支持在线续期，请联系客服 95105813' });
    expect(byId.get(held.id)).toMatchObject({ refusal: 'open-order', openOrderNo: order.orderNo, userMessage: '该证书已有待支付的订单' });
    expect(await preview.renewalOptions('oNoCertificates', new Date())).toEqual([]);
  });
});

describe(`paying and closing (${backend})`, () => {
  it('When a payment of the wrong amount arrives, then it is refused and the order still waits; the right amount credits it once', async () => {
    const cert = await bound('oPay');
    const order = await orders.createOrder({ openid: 'oPay', items: [{ certificateId: cert.id, years: 2 }], at: new Date() });
    const err = await refusal(pay(order.orderNo, 39999));
    expect(err).toBeInstanceOf(PaymentAmountMismatchError);
    expect((await orders.getOrder(order.orderNo))?.state).toBe('PENDING_PAYMENT');
    expect((await refusal(pay(order.orderNo, 0))).status).toBe(400);

    const result = await pay(order.orderNo, 40000, 'T-1');
    expect(result).toMatchObject({ outcome: 'paid', order: { state: 'PAID', paidAmountFen: 40000, transactionId: 'T-1', paymentMethod: 'wechatpay' } });
    expect(await pay(order.orderNo, 40000, 'T-1')).toMatchObject({ outcome: 'already', order: { state: 'PAID' } });
    // Paid again by another transaction (e.g. a transfer as well): money to give back, never a second credit.
    expect(await pay(order.orderNo, 40000, 'T-2')).toMatchObject({ outcome: 'duplicate-payment', order: { state: 'PAID', transactionId: 'T-1' } });
    // PAID still holds the certificate: the renewal has not happened yet.
    expect(await refusal(orders.createOrder({ openid: 'oPay', items: [{ certificateId: cert.id, years: 1 }], at: new Date() }))).toBeInstanceOf(OpenOrderExistsError);

    expect(await orders.fulfil(order.orderNo, new Date())).toMatchObject({ changed: true, order: { state: 'FULFILLED' } });
    expect(await orders.fulfil(order.orderNo, new Date())).toMatchObject({ changed: false, order: { state: 'FULFILLED' } });
    expect(await refusal(orders.close(order.orderNo, 'cancelled', new Date()))).toBeInstanceOf(InvalidTransitionError);
    expect(await refusal(orders.startRefund(order.orderNo, new Date()))).toBeInstanceOf(InvalidTransitionError);
    await expect(orders.createOrder({ openid: 'oPay', items: [{ certificateId: cert.id, years: 1 }], at: new Date() })).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
  });

  it('When the same payment is delivered 50 times at once, then the order is credited once and every other delivery is "already"', async () => {
    const cert = await bound('oPayStorm');
    const order = await orders.createOrder({ openid: 'oPayStorm', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    const results = await Promise.all(Array.from({ length: 50 }, () => pay(order.orderNo, 20000, 'T-STORM')));
    expect(results.filter((r) => r.outcome === 'paid')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'already')).toHaveLength(49);
    expect((await orders.getOrder(order.orderNo))).toMatchObject({ state: 'PAID', paidAmountFen: 20000, transactionId: 'T-STORM' });
  });

  it('When a payment arrives for a closed order, then it is reported as a late payment and the order stays closed', async () => {
    const cert = await bound('oPayLate');
    const order = await orders.createOrder({ openid: 'oPayLate', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    expect((await orders.close(order.orderNo, 'expired', new Date())).changed).toBe(true);
    expect((await orders.close(order.orderNo, 'expired', new Date())).changed).toBe(false);
    const late = await pay(order.orderNo, 20000);
    expect(late).toMatchObject({ outcome: 'late-payment', order: { state: 'CLOSED', paidAt: null, transactionId: null } });
    expect((await orders.getOrder(order.orderNo))?.state).toBe('CLOSED');
    expect(await refusal(pay('R20260101UNKNOWNUNKNOWN22', 20000))).toMatchObject({ status: 404 });
  });

  it('When a paid order is refunded, then it goes PAID → REFUNDING → REFUNDED, idempotently, and frees the certificate', async () => {
    const cert = await bound('oRefund');
    const order = await orders.createOrder({ openid: 'oRefund', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    await pay(order.orderNo, 20000);
    // Paid and waiting for the renewal: no second order, and the page says why (not "待支付").
    expect(await refusal(orders.createOrder({ openid: 'oRefund', items: [{ certificateId: cert.id, years: 1 }], at: new Date() }))).toMatchObject({ userMessage: '该证书已缴费，请在电脑上插入 U-KEY 完成续期' });
    expect((await preview.renewalOptions('oRefund', new Date())).find((o) => o.certificate.id === cert.id)).toMatchObject({ refusal: 'open-order', userMessage: '该证书已缴费，请在电脑上插入 U-KEY 完成续期' });
    expect(await refusal(orders.markRefunded(order.orderNo, new Date()))).toBeInstanceOf(InvalidTransitionError);
    expect((await orders.startRefund(order.orderNo, new Date())).order.state).toBe('REFUNDING');
    expect((await orders.startRefund(order.orderNo, new Date())).changed).toBe(false);
    expect((await orders.markRefunded(order.orderNo, new Date())).order.state).toBe('REFUNDED');
    expect((await orders.markRefunded(order.orderNo, new Date())).changed).toBe(false);
    await expect(orders.createOrder({ openid: 'oRefund', items: [{ certificateId: cert.id, years: 1 }], at: new Date() })).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
  });

  it('When orders pass their expiry unpaid, then expireDue closes exactly those and their certificates can be ordered again', async () => {
    const t0 = new Date();
    const old = await bound('oExpire');
    const paid = await bound('oExpire');
    const fresh = await bound('oExpire');
    const due = await orders.createOrder({ openid: 'oExpire', items: [{ certificateId: old.id, years: 1 }], at: t0 });
    const paidOrder = await orders.createOrder({ openid: 'oExpire', items: [{ certificateId: paid.id, years: 1 }], at: t0 });
    await pay(paidOrder.orderNo, 20000);
    const later = await orders.createOrder({ openid: 'oExpire', items: [{ certificateId: fresh.id, years: 1 }], at: new Date(t0.getTime() + 90 * 60_000) });

    const now = new Date(t0.getTime() + ORDER_TTL_MS + 1000);
    expect(await orders.dueForExpiry(now)).toContain(due.orderNo);
    const closed = await orders.expireDue(now);
    expect(closed).toContain(due.orderNo);
    expect(closed).not.toContain(paidOrder.orderNo);
    expect(closed).not.toContain(later.orderNo);
    expect(await orders.expireDue(now)).not.toContain(due.orderNo);
    expect(await orders.getOrder(due.orderNo)).toMatchObject({ state: 'CLOSED', closeReason: 'expired' });
    expect((await orders.getOrder(later.orderNo))?.state).toBe('PENDING_PAYMENT');
    await expect(orders.createOrder({ openid: 'oExpire', items: [{ certificateId: old.id, years: 1 }], at: now })).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
  });

  it('When the handler chooses a payment method, then it is kept while the order waits and refused after it is paid', async () => {
    const cert = await bound('oMethod');
    const order = await orders.createOrder({ openid: 'oMethod', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    expect((await orders.choosePaymentMethod(order.orderNo, 'oMethod', 'transfer', new Date())).paymentMethod).toBe('transfer');
    expect((await refusal(orders.choosePaymentMethod(order.orderNo, 'oOther', 'transfer', new Date()))).status).toBe(404);
    await orders.markPaid(order.orderNo, { method: 'transfer', amountFen: 20000, transactionId: 'BANK-1', paidAt: new Date() });
    expect(await refusal(orders.choosePaymentMethod(order.orderNo, 'oMethod', 'wechatpay', new Date()))).toMatchObject({ status: 409, userMessage: '订单已支付或已关闭，无法更改支付方式' });
    expect((await orders.choosePaymentMethod(order.orderNo, 'oMethod', 'transfer', new Date())).state).toBe('PAID');
  });
});
