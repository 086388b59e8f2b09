import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Koa from 'koa';
import request from 'supertest';
import { type CliIo } from '../../src/cli/bootstrap';
import { importStatement } from '../../src/cli/import-statement';
import { createConsoleApp } from '../../src/modules/console/app';
import { ProposalEntity } from '../../src/modules/console/entities';
import { InvoiceService } from '../../src/modules/invoices/service';
import { OrderEntity } from '../../src/modules/orders/entities';
import { OrderService } from '../../src/modules/orders/service';
import { PaymentService } from '../../src/modules/payments/service';
import { RefundEntity } from '../../src/modules/refunds/entities';
import { RefundService } from '../../src/modules/refunds/service';
import { RenewalAuditEntity } from '../../src/modules/renewals/entities';
import { MAX_STATEMENT_BYTES } from '../../src/modules/statement-imports/service';
import { manualCreditKind } from '../../src/modules/transfer-exceptions/approval';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { TransferService } from '../../src/modules/transfers/service';
import { beijingDay } from '../../src/modules/wechatpay-bills/service';
import { createOperator, loginAgent } from '../helpers/console';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, TestClock, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';
import { until } from '../helpers/until';
import { xlsxBytes } from '../helpers/xlsx';

/**
 * The finance sections of the operator console (对账单导入, 异常队列, 退款, 微信支付账单) over HTTP, as thin pages over
 * the services the npm commands use: role checks, CSRF, four-eyes with a second 财务, the sandbox WeChat Pay for
 * payments, refunds and the trade bill. The clock starts on a past Beijing day (the trade bill's day) at 11:00.
 */
const DAY = 86_400_000;
const PII = { PII_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`, PII_HMAC_KEY: Buffer.alloc(32, 8).toString('base64') };
const dayStart = Date.parse(`${beijingDay(Date.now() - 3 * DAY)}T11:00:00+08:00`);
const clock = new TestClock(dayStart);
let handle: TestBackendHandle;
let app: ListeningInstance;
let consoleApp: Koa;
let orders: OrderService;
let seq = 0;
type Agent = Awaited<ReturnType<typeof loginAgent>>;
let financeA: Agent;
let financeB: Agent;
let support: Agent;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { clock, env: PII });
  app.deps.sandboxWechatPay!.refundSettleMs = null;
  orders = new OrderService(app.deps);
  consoleApp = createConsoleApp(app.deps);
  const a = await createOperator(app.deps, { username: 'finance.a', roles: ['finance'] });
  const b = await createOperator(app.deps, { username: 'finance.b', roles: ['finance'] });
  const s = await createOperator(app.deps, { username: 'support.c', roles: ['support'] });
  financeA = await loginAgent(consoleApp, app.deps, a);
  financeB = await loginAgent(consoleApp, app.deps, b);
  support = await loginAgent(consoleApp, app.deps, s);
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const pay = () => app.deps.sandboxWechatPay!;
const yuan = (fen: number) => (fen / 100).toFixed(2);

async function pendingOrder(openid: string, organization = `梅州财务控制台测试单位${++seq}`) {
  const now = clock.nowMs();
  const cert = await boundCertificate(app.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true, at: new Date(now) });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  return { orderNo: order.orderNo, totalFen: order.totalFen, organization };
}

/** Paid through the sandbox cashier; `lostNotify`: WeChat Pay's notify never reaches us. */
async function wechatPaidOrder(openid: string, opts: { lostNotify?: boolean } = {}): Promise<string> {
  const { orderNo } = await pendingOrder(openid);
  const params = await new PaymentService(app.deps).jsapiParams(orderNo, openid);
  if (opts.lostNotify) {
    pay().transactions.get(orderNo)!.notifyUrl = 'http://127.0.0.1:9/notify-lost';
    pay().retryScheduleMs = [];
  }
  const paid = pay().confirmPayment(params.package.replace('prepay_id=', ''));
  if ('error' in paid) throw new Error(paid.error);
  await paid.delivery;
  if (!opts.lostNotify) await until(() => orders.getOrder(orderNo), (o) => o?.state === 'PAID');
  return orderNo;
}

const proposalOf = (location: string) => Number(/\/approvals\/(\d+)$/.exec(location)?.[1]);
const proposal = (id: number) => app.deps.db.getRepository(ProposalEntity).findOneByOrFail({ id });

describe(`finance console (${backend})`, () => {
  it('When nobody is logged in, then every finance page redirects to the login and every action gets 401 with nothing in it', async () => {
    for (const path of ['/statements', '/exceptions', '/refunds', '/bills']) {
      const res = await request(consoleApp.callback()).get(path);
      expect(res.status).toBe(302);
      expect(res.headers.location).toMatch(/^\/login\?next=/);
    }
    const post = await request(consoleApp.callback()).post('/refunds').type('form').send({ orderNo: 'X', amount: '1', reason: 'x' });
    expect(post.status).toBe(401);
    expect(post.text).not.toContain('退款申请');
  });

  it('When a 客服 opens the finance pages or proposes a refund, then each is refused with 403', async () => {
    for (const path of ['/statements', '/exceptions', '/refunds', '/bills']) expect((await support.get(path)).status).toBe(403);
    const { orderNo, totalFen } = await pendingOrder('oConsoleSupportRefund');
    const res = await support.post('/refunds').type('form').send({ _csrf: support.csrf, orderNo, amount: yuan(totalFen), reason: '客服试图退款' });
    expect(res.status).toBe(403);
    expect(await app.deps.db.getRepository(ProposalEntity).countBy({ kind: 'refund' })).toBe(0);
  });

  it('When a finance form is posted without its CSRF token, then it is refused and nothing is proposed', async () => {
    const res = await financeA.post('/refunds').type('form').send({ orderNo: 'R1', amount: '200.00', reason: '无令牌' });
    expect(res.status).toBe(403);
    expect(await app.deps.db.getRepository(ProposalEntity).count()).toBe(0);
  });

  describe('statements and exceptions', () => {
    let exact: { orderNo: string; totalFen: number; organization: string };
    let byHand: { orderNo: string; totalFen: number; organization: string };
    const serial = `CF${Date.now()}`;

    it('When a statement is uploaded, then the per-line report shows the credit and the exception, and the upload is in the history', async () => {
      exact = await pendingOrder('oConsoleStmtExact');
      byHand = await pendingOrder('oConsoleStmtByHand');
      const transfers = new TransferService(app.deps);
      const exactCode = (await transfers.codeFor(exact.orderNo, 'oConsoleStmtExact', new Date(clock.nowMs()))).code;
      const byHandCode = (await transfers.codeFor(byHand.orderNo, 'oConsoleStmtByHand', new Date(clock.nowMs()))).code;
      const csv = ['交易日期,付款人名称,付款账号,付款行,金额,附言,流水号',
        `2026-12-01,${exact.organization},4400100,建设银行,${yuan(exact.totalFen)},${exactCode},${serial}-1`,
        `2026-12-01,${byHand.organization},4400200,工商银行,${yuan(byHand.totalFen)},${byHandCode} 续期费,${serial}-2`].join('\n');
      const res = await financeA.post(`/statements?_csrf=${encodeURIComponent(financeA.csrf)}`).attach('file', Buffer.from(csv), { filename: '12月对账单.csv', contentType: 'text/csv' });
      expect(res.status).toBe(302);
      const report = await financeA.get(res.headers.location);
      expect(report.text).toContain(`入账 ${exact.orderNo}`);
      expect(report.text).toContain('异常 remark-not-code');
      expect((await orders.getOrder(exact.orderNo))!.state).toBe('PAID');
      const history = await financeA.get('/statements');
      expect(history.text).toContain('12月对账单.csv');
      // The command imports through the same service: its run is in the same history.
      const file = join(mkdtempSync(join(tmpdir(), 'cf-')), 'shell.csv');
      writeFileSync(file, `交易日期,付款人名称,付款账号,付款行,金额,附言,流水号\n2026-12-01,梅州市某单位,1,建设银行,1.00,000000,${serial}-shell`);
      const printed: string[] = [];
      const io: CliIo = { env: { ...handle.env, ...PII, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', USER: 'caiwu' }, out: (l) => printed.push(l), err: (l) => printed.push(l) };
      expect(await importStatement(io, [file])).toEqual({ credited: 0, exceptions: 1, skipped: 0, rejected: 0 });
      expect(printed[0]).toMatch(/^line 2: 异常 unknown-code/);
      expect((await financeA.get('/statements')).text).toContain('shell:caiwu');
    });

    it('When an Excel workbook is uploaded, then it is read as the command reads it; an oversized or .xls file is refused with the fix', async () => {
      const header = ['交易日期', '付款人名称', '付款账号', '付款行', '金额', '附言', '流水号'];
      const workbook = await xlsxBytes([header, ['2026-12-01', '梅州市工作簿单位', '4400700', '建设银行', '88.00', '000000', `${serial}-x`]].map((r) => r.map((value) => ({ value, type: String }))));
      const res = await financeA.post(`/statements?_csrf=${encodeURIComponent(financeA.csrf)}`).attach('file', workbook, { filename: '收款明细.xlsx' });
      expect(res.status).toBe(302);
      expect((await financeA.get(res.headers.location)).text).toContain(`异常 unknown-code：校验码不对应任何待付款订单（流水号 ${serial}-x）`);
      const legacy = await financeA.post(`/statements?_csrf=${encodeURIComponent(financeA.csrf)}`).attach('file', Buffer.from('x'), { filename: '旧格式.xls' });
      expect(legacy.status).toBe(400);
      expect(legacy.text).toContain('另存为「Excel 工作簿（*.xlsx）」');
      const huge = await financeA.post(`/statements?_csrf=${encodeURIComponent(financeA.csrf)}`).attach('file', Buffer.alloc(MAX_STATEMENT_BYTES + 1, 0x41), { filename: 'huge.csv' });
      expect(huge.status).toBe(413);
      expect(huge.text).toContain('对账单超过 16 MB');
    });

    it('When an upload comes without a token, then it is refused before the file is read', async () => {
      const res = await financeA.post('/statements').attach('file', Buffer.from('x'), { filename: 'a.csv' });
      expect(res.status).toBe(403);
    });

    it('When an exception is matched by hand, then it needs a second 财务, and the order is PAID once even when approved twice', async () => {
      const line = await app.deps.db.getRepository(StatementEntryEntity).findOneByOrFail({ bankSerial: `${serial}-2` });
      expect((await financeA.get('/exceptions')).text).toContain(`${serial}-2`);
      const proposed = await financeA.post(`/exceptions/${line.id}/credit`).type('form').send({ _csrf: financeA.csrf, orderNo: byHand.orderNo, reason: '附言多写了文字，电话核实为该单位续期款' });
      expect(proposed.status).toBe(302);
      const id = proposalOf(proposed.headers.location);
      const own = await financeA.post(`/approvals/${id}/approve`).type('form').send({ _csrf: financeA.csrf });
      expect(own.status).toBe(403);
      expect(own.text).toContain('不能批准自己提交的申请');
      expect((await orders.getOrder(byHand.orderNo))!.state).toBe('PENDING_PAYMENT');

      await financeB.post(`/approvals/${id}/approve`).type('form').send({ _csrf: financeB.csrf });
      expect(await proposal(id)).toMatchObject({ status: 'EXECUTED' });
      const paid = (await orders.getOrder(byHand.orderNo))!;
      expect(paid).toMatchObject({ state: 'PAID', paymentMethod: 'transfer', transactionId: `BANK-${serial}-2`, paidAmountFen: byHand.totalFen });

      const again = await financeB.post(`/approvals/${id}/approve`).type('form').send({ _csrf: financeB.csrf });
      expect(again.status).toBe(409);
      // The kind itself run again (a retry after a crash): the same credit, nothing more.
      expect(await manualCreditKind.execute(app.deps, JSON.parse((await proposal(id)).payload), { proposalId: id, proposerId: 0, approverId: 0 })).toMatchObject({ 结果: '此前已入账（未重复入账）' });
      expect(await app.deps.db.getRepository(OrderEntity).findOneByOrFail({ orderNo: byHand.orderNo })).toMatchObject({ state: 'PAID', paidAt: paid.paidAt });
      const second = await financeA.post(`/exceptions/${line.id}/credit`).type('form').send({ _csrf: financeA.csrf, orderNo: byHand.orderNo, reason: '再来一次' });
      expect(second.status).toBe(409);
      expect((await financeA.get(`/exceptions/${line.id}`)).text).toContain('已人工入账');
    });

    it('When an exception is rejected with refund instructions, then they are recorded, audited and the line shows 待退回 until the return is confirmed, and the handled lines export as CSV (audited)', async () => {
      const csv = `交易日期,付款人名称,付款账号,付款行,金额,附言,流水号\n2026-12-01,梅州市某某公司,4400900,农业银行,123.45,未知款项,${serial}-3`;
      await financeA.post(`/statements?_csrf=${encodeURIComponent(financeA.csrf)}`).attach('file', Buffer.from(csv), { filename: 'b.csv' });
      const line = await app.deps.db.getRepository(StatementEntryEntity).findOneByOrFail({ bankSerial: `${serial}-3` });
      await financeA.post(`/exceptions/${line.id}/refund`).type('form').send({ _csrf: financeA.csrf, accountName: '梅州市某某公司', account: '4400900', bank: '农业银行', note: '原路退回', reason: '无法确认付款用途' });
      expect((await financeA.get('/exceptions?view=refund-pending')).text).toContain(`${serial}-3`);
      await financeB.post(`/exceptions/${line.id}/refunded`).type('form').send({ _csrf: financeB.csrf, reference: 'RET20261201' });
      expect((await financeA.get(`/exceptions/${line.id}`)).text).toContain('银行流水号 RET20261201');
      const exported = await financeA.get('/exceptions/export.csv?view=done');
      expect(exported.headers['content-type']).toMatch(/^text\/csv/);
      expect(exported.text.startsWith('\uFEFF流水号,')).toBe(true);
      expect(exported.text).toContain(`${serial}-3,2026-12-01,梅州市某某公司,4400900`);
      expect((await support.get('/exceptions/export.csv')).status).toBe(403);
      const steps = (await app.deps.db.getRepository(RenewalAuditEntity).find()).map((e) => e.step);
      expect(steps).toEqual(expect.arrayContaining(['console.statement.import', 'console.exception.refund', 'console.exception.refunded', 'console.export']));
    });
  });

  describe('refunds', () => {
    it('When a refund is proposed, then its proposer cannot approve it, and a second 财务 approving it refunds the order at the sandbox WeChat Pay', async () => {
      const orderNo = await wechatPaidOrder('oConsoleRefund');
      const paidFen = (await orders.getOrder(orderNo))!.paidAmountFen!;
      const proposed = await financeA.post('/refunds').type('form').send({ _csrf: financeA.csrf, orderNo, amount: yuan(paidFen), reason: '用户申请退款' });
      expect(proposed.status).toBe(302);
      const id = proposalOf(proposed.headers.location);
      expect((await financeA.post(`/approvals/${id}/approve`).type('form').send({ _csrf: financeA.csrf })).status).toBe(403);
      expect(pay().refunds.size).toBe(0);
      await financeB.post(`/approvals/${id}/approve`).type('form').send({ _csrf: financeB.csrf });
      expect(await proposal(id)).toMatchObject({ status: 'EXECUTED' });
      expect([...pay().refunds.values()].filter((r) => r.outTradeNo === orderNo)).toEqual([expect.objectContaining({ refundFen: paidFen })]);
      expect((await orders.getOrder(orderNo))!.state).toBe('REFUNDING');
      expect((await financeA.get(`/refunds?orderNo=${orderNo}`)).text).toContain(`RO${orderNo}`);
    });

    it('When the refund of an invoiced order is proposed, then it is refused with the red-letter message', async () => {
      const openid = 'oConsoleInvoicedRefund';
      const orderNo = await wechatPaidOrder(openid);
      await new InvoiceService(app.deps).request(openid, { orderNos: [orderNo], buyer: { buyerKind: 'organisation', title: '梅州开票单位', taxId: '91440101MA5CYQ8X3X', email: 'buyer@example.com' } });
      const res = await financeA.post('/refunds').type('form').send({ _csrf: financeA.csrf, orderNo, amount: yuan((await orders.getOrder(orderNo))!.paidAmountFen!), reason: '用户申请退款' });
      expect(res.status).toBe(409);
      expect(res.text).toMatch(/须先(红冲发票|撤回或红冲)后才能退款/);
    });
  });

  it('When a transfer-paid order is refunded, then it waits for a person on the refunds page with what to do, and marking it handled takes it off the list (audited)', async () => {
    const { orderNo, totalFen } = await pendingOrder('oConsoleTransferRefund');
    await orders.markPaid(orderNo, { method: 'transfer', amountFen: totalFen, transactionId: `BANK-CFR${Date.now()}`, paidAt: new Date(clock.nowMs()) });
    const proposed = await financeA.post('/refunds').type('form').send({ _csrf: financeA.csrf, orderNo, amount: yuan(totalFen), reason: '单位申请退款' });
    await financeB.post(`/approvals/${proposalOf(proposed.headers.location)}/approve`).type('form').send({ _csrf: financeB.csrf });
    const page = await financeA.get('/refunds');
    expect(page.text).toContain(`RO${orderNo}`);
    expect(page.text).toContain('请通过银行把款项退回付款账户后标记已处理');
    const missingNote = await financeA.post(`/refunds/RO${orderNo}/resolve`).type('form').send({ _csrf: financeA.csrf, note: '' });
    expect(missingNote.status).toBe(400);
    expect((await financeA.post(`/refunds/RO${orderNo}/resolve`).type('form').send({ _csrf: financeA.csrf, note: '已通过建行退回，流水号 RET1' })).status).toBe(302);
    expect(await new RefundService(app.deps).exceptions()).not.toContainEqual(expect.objectContaining({ orderNo }));
    const audit = await app.deps.db.getRepository(RenewalAuditEntity).find();
    expect(audit.map((e) => e.step)).toContain('console.refund.resolve');
  });

  describe('WeChat Pay bill', () => {
    it('When a day is re-run from the bill page, then every mismatch kind is listed with what to do, and the re-run is audited', async () => {
      const tradeDay = beijingDay(clock.nowMs());
      const lost = await wechatPaidOrder('oConsoleBillLost', { lostNotify: true });
      const differing = await wechatPaidOrder('oConsoleBillDiffering');
      const platform = await wechatPaidOrder('oConsoleBillPlatform');
      const refundedOdd = await wechatPaidOrder('oConsoleBillRefundOdd');
      await new RefundService(app.deps).refundOrder(refundedOdd, '用户申请退款');
      await app.deps.wechatpay.refund({ outTradeNo: platform, outRefundNo: `PLATFORM${Date.now()}`, refundFen: 100, totalFen: (await orders.getOrder(platform))!.paidAmountFen! });
      const repo = app.deps.db.getRepository(OrderEntity);
      await repo.update({ orderNo: differing }, { paidAmountFen: 1 });
      const { orderNo: phantom } = await pendingOrder('oConsoleBillPhantom');
      await repo.update({ orderNo: phantom }, { state: 'PAID', paymentMethod: 'wechatpay', paidAt: new Date(clock.nowMs()), paidAmountFen: 20000, transactionId: '4200008888888888888888888888' });
      // Our refund records disagree with WeChat Pay's: an amount edited, and a refund WeChat Pay never received.
      await app.deps.db.getRepository(RefundEntity).update({ outRefundNo: `RO${refundedOdd}` }, { amountFen: 12345 });
      await app.deps.db.getRepository(RefundEntity).insert({
        orderNo: phantom, outTradeNo: phantom, outRefundNo: `ROGHOST${Date.now()}`, transactionId: '4200008888888888888888888888', kind: 'order', amountFen: 20000, totalFen: 20000,
        reason: '本地多出的退款', state: 'PROCESSING', refundId: null, attempts: 1, lastError: null, createdAt: new Date(clock.nowMs()), updatedAt: new Date(clock.nowMs()), settledAt: null, resolvedAt: null, resolvedBy: null,
      });
      clock.set(Date.parse(`${beijingDay(clock.nowMs() + DAY)}T10:30:00+08:00`));
      const finance = await loginAgent(consoleApp, app.deps, await createOperator(app.deps, { username: 'finance.bill', roles: ['finance'] }));
      const run = await finance.post('/bills/check').type('form').send({ _csrf: finance.csrf, day: tradeDay });
      expect(run.status).toBe(302);
      expect((await orders.getOrder(lost))!.state).toBe('PAID');
      const page = await finance.get(`/bills/${tradeDay}`);
      for (const label of ['微信支付已收款，本地未入账', '本地已收款，账单中没有', '金额不一致', '账单有退款，本地没有', '本地有退款，账单中没有', '退款金额不一致']) expect(page.text).toContain(label);
      expect(page.text).toContain('已按查单结果入账');
      expect((await finance.get('/bills')).text).toContain(tradeDay);
      const audit = await app.deps.db.getRepository(RenewalAuditEntity).find();
      expect(audit.map((e) => e.step)).toContain('console.bill.check');
      // The exception export (payer accounts) wants a re-authentication within 5 minutes.
      clock.advance(6 * 60_000);
      const stale = await finance.get('/exceptions/export.csv');
      expect(stale.status).toBe(302);
      expect(stale.headers.location).toMatch(/^\/step-up\?next=/);
    });
  });
});
