import { DashboardService } from '../../src/modules/dashboard/service';
import { OrderSearch, detectKind } from '../../src/modules/orders/search';
import { OrderTimeline } from '../../src/modules/orders/timeline';
import { RefundEntity } from '../../src/modules/refunds/entities';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { InvoiceRequestEntity } from '../../src/modules/invoices/entities';
import { createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { insertCertificate, insertInstalledRenewal, insertOrder } from '../helpers/order-rows';
import { paidOrder } from '../helpers/paid-orders';
import { OrderLineEntity } from '../../src/modules/orders/entities';
import { writeSearchKeys } from '../../src/modules/orders/search-keys';

/**
 * The console's order search (exact order number, USCC, openid, organisation prefix, state, dates, keyset pages) and
 * the dashboard's figures, on rows placed at known times; the clock is fixed at 2026-12-03 10:00 China time.
 */
const NOW = Date.parse('2026-12-03T02:00:00Z');
const DAY = 86_400_000;
let handle: TestBackendHandle;
let t: TestInstance;
let search: OrderSearch;

beforeAll(async () => {
  handle = await createTestBackend();
  t = await startInstance(handle, { clock: { nowMs: () => NOW }, startJobs: false });
  search = new OrderSearch(t.deps.db);
});
afterAll(async () => {
  await t?.close();
  await handle?.drop();
});

describe('order search', () => {
  test('When an operator types an exact order number (any case), then that order alone is found', async () => {
    const target = await insertOrder(t.deps, { organisation: '梅州市精确查找有限公司', createdAt: new Date(NOW - 3 * DAY) });
    await insertOrder(t.deps, { organisation: '梅州市精确查找有限公司', createdAt: new Date(NOW - 2 * DAY) });
    const page = await search.search({ q: target.orderNo.toLowerCase() });
    expect(page.kind).toBe('order');
    expect(page.rows.map((r) => r.orderNo)).toEqual([target.orderNo]);
    expect(page.rows[0].organisations).toEqual([{ name: '梅州市精确查找有限公司', uscc: null }]);
  });

  test('When an operator types a USCC, then every order renewing a certificate of that code is found, newest first', async () => {
    const uscc = '91441400MA4UTEST1X';
    const a = await insertOrder(t.deps, { organisation: '梅州市信用代码甲公司', uscc, createdAt: new Date(NOW - 5 * DAY) });
    const b = await insertOrder(t.deps, { organisation: '梅州市信用代码甲公司', uscc, createdAt: new Date(NOW - 1 * DAY) });
    await insertOrder(t.deps, { organisation: '梅州市信用代码乙公司', uscc: '91441400MA4UOTHER9', createdAt: new Date(NOW - 1 * DAY) });
    const page = await search.search({ q: uscc.toLowerCase() });
    expect(page.kind).toBe('uscc');
    expect(page.rows.map((r) => r.orderNo)).toEqual([b.orderNo, a.orderNo]);
  });

  test('When an operator types an openid, then that follower\'s orders are found and no one else\'s', async () => {
    const openid = 'oSEARCHopenid0000000000001';
    const mine = await insertOrder(t.deps, { openid, createdAt: new Date(NOW - DAY) });
    await insertOrder(t.deps, { openid: 'oSEARCHopenid0000000000002', createdAt: new Date(NOW - DAY) });
    const page = await search.search({ q: openid });
    expect(page.kind).toBe('openid');
    expect(page.rows.map((r) => r.orderNo)).toEqual([mine.orderNo]);
  });

  test('When an operator types the start of an organisation name, then orders of every organisation starting so are found, and % or _ typed match only themselves', async () => {
    const x = await insertOrder(t.deps, { organisation: '兴宁市前缀建筑工程有限公司', createdAt: new Date(NOW - 4 * DAY) });
    const y = await insertOrder(t.deps, { organisation: '兴宁市前缀会计师事务所', createdAt: new Date(NOW - 3 * DAY) });
    await insertOrder(t.deps, { organisation: '梅州市兴宁市前缀不算', createdAt: new Date(NOW - 3 * DAY) });
    const pct = await insertOrder(t.deps, { organisation: '100%_前缀科技', createdAt: new Date(NOW - 3 * DAY) });
    await insertOrder(t.deps, { organisation: '100X前缀科技', createdAt: new Date(NOW - 3 * DAY) });
    const page = await search.search({ q: '兴宁市前缀' });
    expect(page.kind).toBe('organisation');
    expect(page.rows.map((r) => r.orderNo)).toEqual([y.orderNo, x.orderNo]);
    expect((await search.search({ q: '100%_' })).rows.map((r) => r.orderNo)).toEqual([pct.orderNo]);
  });

  test('When a state and a created-date range are given, then only orders in that state created inside [from, to) are listed', async () => {
    const org = '平远县状态筛选有限公司';
    const paid = await insertOrder(t.deps, { organisation: org, createdAt: new Date(NOW - 10 * DAY), paidAt: new Date(NOW - 10 * DAY) });
    await insertOrder(t.deps, { organisation: org, createdAt: new Date(NOW - 10 * DAY) });
    await insertOrder(t.deps, { organisation: org, createdAt: new Date(NOW - 20 * DAY), paidAt: new Date(NOW - 20 * DAY) });
    const page = await search.search({ q: org, state: 'PAID', from: new Date(NOW - 11 * DAY), to: new Date(NOW - 9 * DAY) });
    expect(page.rows.map((r) => r.orderNo)).toEqual([paid.orderNo]);
  });

  test('When 45 orders (some created in the same millisecond) are walked in pages of 20, then each is listed exactly once, in order, even as new orders arrive', async () => {
    const org = '蕉岭县分页测试有限公司';
    const made: string[] = [];
    for (let i = 0; i < 45; i++) made.push((await insertOrder(t.deps, { organisation: `${org}${i % 3}`, createdAt: new Date(NOW - 30 * DAY + Math.floor(i / 4) * 60_000) })).orderNo);
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page = await search.search({ q: org, after, limit: 20 });
      seen.push(...page.rows.map((r) => r.orderNo));
      after = page.next;
      pages++;
      // A new order arrives between pages: it is newer than the cursor, so the walk neither repeats nor skips.
      await insertOrder(t.deps, { organisation: `${org}新`, createdAt: new Date(NOW) });
    } while (after);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(45);
    expect(new Set(seen)).toEqual(new Set(made));
    const all = await search.all({ q: org }, 10_000);
    expect(all.rows.slice(-45).map((r) => r.orderNo)).toEqual(seen);
  });

  test('When a prefix matches so many organisations that it is read newest first, then the pages are the same as when every match is sorted', async () => {
    const org = '五华县宽前缀';
    for (let i = 0; i < 30; i++) await insertOrder(t.deps, { organisation: `${org}${i % 7}有限公司`, createdAt: new Date(NOW - 40 * DAY + Math.floor(i / 3) * 60_000) });
    const walk = async (s: OrderSearch) => {
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page = await s.search({ q: org, after, limit: 8 });
        seen.push(...page.rows.map((r) => r.orderNo));
        after = page.next;
      } while (after);
      return seen;
    };
    const broad = await walk(new OrderSearch(t.deps.db, { broadPrefixRows: 5 }));
    expect(broad).toHaveLength(30);
    expect(broad).toEqual(await walk(search));
  });

  test('When one order renews certificates of two organisations that both match the prefix, then it is listed once', async () => {
    const a = await insertOrder(t.deps, { organisation: '丰顺县双证甲公司', createdAt: new Date(NOW - 50 * DAY) });
    const cert = await insertCertificate(t.deps, { organisation: '丰顺县双证乙公司' });
    await t.deps.db.manager.insert(OrderLineEntity, { orderId: a.id, certificateId: cert, years: 1, unitPriceFen: 1, amountFen: 1, priceRuleId: 1, openKey: null });
    await writeSearchKeys(t.deps.db.manager, a.id, new Date(NOW - 50 * DAY), [cert]);
    const page = await search.search({ q: '丰顺县双证' });
    expect(page.rows.map((r) => r.orderNo)).toEqual([a.orderNo]);
    expect(page.rows[0].organisations.map((o) => o.name)).toEqual(['丰顺县双证甲公司', '丰顺县双证乙公司']);
  });

  test('When an order is made through the order service, then its organisation finds it', async () => {
    const made = await paidOrder(t.deps, 'oSEARCHviaService000000001', { organization: '梅州市服务下单测试有限公司' });
    expect((await search.search({ q: '梅州市服务下单' })).rows.map((r) => r.orderNo)).toEqual([made.orderNo]);
  });

  test('When a typed value has the shape of an order number, USCC or openid, then it is searched as that key', () => {
    expect(detectKind('R20261203ABCDEFGHJKLMNPQR')).toBe('order');
    expect(detectKind('91441400MA4UTEST1X')).toBe('uscc');
    expect(detectKind('oAbCdEfGhIjKlMnOpQrStUvWx')).toBe('openid');
    expect(detectKind('梅州')).toBe('organisation');
  });
});

describe('order timeline', () => {
  test('When an order was paid, refunded and a transfer line naming it was an exception, then its detail lists those steps in time order', async () => {
    const o = await insertOrder(t.deps, { organisation: '大埔县时间线有限公司', createdAt: new Date(NOW - 3 * DAY), paidAt: new Date(NOW - 2 * DAY) });
    await t.deps.db.manager.insert(StatementEntryEntity, { bankSerial: `TL${o.id}`, lineDate: '2026-12-01', payerName: '大埔县别的公司', payerAccount: '1', payerBank: '银行', amountFen: 20000, remark: '123456', decision: 'exception', reason: '付款人与证书单位不一致', orderNo: o.orderNo, source: 'x.csv', importedAt: new Date(NOW - 2.5 * DAY) });
    await t.deps.db.manager.insert(RefundEntity, { orderNo: o.orderNo, outTradeNo: o.orderNo, outRefundNo: `RF${o.id}`, transactionId: '4200', kind: 'order', amountFen: 20000, totalFen: 20000, reason: '用户申请', state: 'SUCCESS', refundId: null, attempts: 1, lastError: null, createdAt: new Date(NOW - DAY), updatedAt: new Date(NOW - DAY / 2), settledAt: new Date(NOW - DAY / 2), resolvedAt: null, resolvedBy: null });
    const detail = await new OrderTimeline(t.deps.db).detail(o.orderNo);
    expect(detail!.lines[0].organisation).toBe('大埔县时间线有限公司');
    expect(detail!.events.map((e) => e.title)).toEqual(['创建订单', '汇款异常', '已支付', '退款申请（order）', '退款到账']);
    expect(await new OrderTimeline(t.deps.db).detail('R20260101XXXXXXXXXXXXXXXX')).toBeNull();
  });
});

describe('dashboard', () => {
  test('When orders, payments, exceptions, failing invoices, expiring certificates and renewals are on record, then the dashboard counts exactly those', async () => {
    // A backend of its own: the figures count the whole database.
    const h = await createTestBackend();
    const d = await startInstance(h, { clock: { nowMs: () => NOW }, startJobs: false });
    try {
      const todayStart = Date.parse('2026-12-02T16:00:00Z'); // 2026-12-03 00:00 China time
      await insertOrder(d.deps, { createdAt: new Date(todayStart + 1000), paidAt: new Date(todayStart + 2000), totalFen: 20000 });
      await insertOrder(d.deps, { createdAt: new Date(todayStart + 5000), paidAt: new Date(NOW - 1000), totalFen: 40000 });
      await insertOrder(d.deps, { createdAt: new Date(NOW - 1000), method: 'transfer', expiresAt: new Date(NOW + DAY) });
      await insertOrder(d.deps, { createdAt: new Date(todayStart - 1000), method: 'transfer', expiresAt: new Date(NOW - 1) }); // yesterday, expired
      const old = await insertOrder(d.deps, { createdAt: new Date(NOW - 20 * DAY), paidAt: new Date(NOW - 20 * DAY), totalFen: 60000 });
      await insertOrder(d.deps, { createdAt: new Date(NOW - 200 * DAY), paidAt: new Date(NOW - 200 * DAY), totalFen: 99900 }); // outside 12 weeks
      await insertInstalledRenewal(d.deps, old, new Date(NOW - 2 * DAY));
      const another = await insertOrder(d.deps, { createdAt: new Date(NOW - 20 * DAY), paidAt: new Date(NOW - 20 * DAY), state: 'FULFILLED' });
      await insertInstalledRenewal(d.deps, another, new Date(todayStart + 1));
      const em = d.deps.db.manager;
      const stmt = { payerName: 'x', payerAccount: '1', payerBank: 'b', amountFen: 1, remark: 'r', reason: null, orderNo: null, source: 's', lineDate: '2026-12-01', importedAt: new Date(NOW) };
      await em.insert(StatementEntryEntity, [{ ...stmt, bankSerial: 'E1', decision: 'exception' }, { ...stmt, bankSerial: 'E2', decision: 'exception' }, { ...stmt, bankSerial: 'C1', decision: 'credited' }]);
      const refund = { orderNo: 'R1', outTradeNo: 'R1', transactionId: 't', kind: 'order' as const, amountFen: 1, totalFen: 1, reason: 'r', refundId: null, attempts: 1, lastError: null, createdAt: new Date(NOW), updatedAt: new Date(NOW), settledAt: null, resolvedBy: null };
      await em.insert(RefundEntity, [{ ...refund, outRefundNo: 'F1', state: 'ABNORMAL', resolvedAt: null }, { ...refund, outRefundNo: 'F2', state: 'ABNORMAL', resolvedAt: new Date(NOW) }, { ...refund, outRefundNo: 'F3', state: 'PROCESSING', resolvedAt: null }]);
      const inv = { openid: 'o', direction: 'blue' as const, reversesId: null, replacesId: null, buyerKind: 'organisation' as const, title: 't', buyerSealed: 's', totalFen: 1, amountFen: 1, taxFen: 0, failureReason: null, attemptNo: 1, kind: null, invoiceCode: null, invoiceNumber: null, issuedAt: null, redConfirmId: null, redState: null, sandbox: false, contactsErasedAt: null, createdAt: new Date(NOW), updatedAt: new Date(NOW) };
      await em.insert(InvoiceRequestEntity, [{ ...inv, acceptanceNo: 'A1', status: 'failed' }, { ...inv, acceptanceNo: 'A2', status: 'issued' }]);
      await insertCertificate(d.deps, { organisation: 'a', notAfter: new Date(NOW + 10 * DAY) });
      await insertCertificate(d.deps, { organisation: 'a', notAfter: new Date(NOW + 10 * DAY), usage: 'encrypt' });
      await insertCertificate(d.deps, { organisation: 'b', notAfter: new Date(NOW + 29 * DAY), status: 'revoked' });
      await insertCertificate(d.deps, { organisation: 'c', notAfter: new Date(NOW - DAY) });
      // Every order above made one certificate valid for 200 days: not expiring.

      const f = await new DashboardService(d.deps).figures({ fresh: true });
      expect(f).toMatchObject({ ordersToday: 3, paidTodayCount: 2, paidTodayFen: 60000, transfersWaiting: 1, transferExceptions: 2, refundExceptions: 1, invoicesFailing: 1, certificatesExpiring30: 1 });
      expect(f.renewalsPerDay).toHaveLength(30);
      expect(f.renewalsPerDay.at(-1)).toEqual({ day: '2026-12-03', count: 1 });
      expect(f.renewalsPerDay.at(-3)).toEqual({ day: '2026-12-01', count: 1 });
      expect(f.renewalsPerDay.reduce((s, d) => s + d.count, 0)).toBe(2);
      expect(f.revenuePerWeek).toHaveLength(12);
      expect(f.revenuePerWeek.at(-1)).toEqual({ week: '2026-11-30', fen: 60000 }); // Monday of this week
      expect(f.revenuePerWeek.at(-4)).toEqual({ week: '2026-11-09', fen: 80000 }); // 2026-11-13: two orders, 600 + 200 元
      expect(f.revenuePerWeek.reduce((s, w) => s + w.fen, 0)).toBe(140000);
    } finally {
      await d.close();
      await h.drop();
    }
  });
});
