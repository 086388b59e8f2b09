import { InvoiceIssuance } from '../../src/modules/invoices/issuance';
import { InvoiceLinks } from '../../src/modules/invoices/link-access';
import { RedLetters } from '../../src/modules/invoices/red-letter';
import { InvoiceRepository } from '../../src/modules/invoices/repository';
import { type InvoiceBuyer } from '../../src/modules/invoices/schemas';
import { InvoiceService } from '../../src/modules/invoices/service';
import { InvoicedOrderRefundError } from '../../src/modules/invoices/refund-guard';
import { InvoiceAttemptEntity, InvoiceLinkEntity, InvoiceMailEntity } from '../../src/modules/invoices/entities';
import { NoticeOutboxEntity } from '../../src/modules/notices/outbox';
import { applyInvoiceRetention, CONTACTS_KEPT_MS } from '../../src/modules/invoices/retention';
import { OrderService } from '../../src/modules/orders/service';
import { type AppError } from '../../src/lib/errors';
import { type CliIo } from '../../src/cli/bootstrap';
import { invoicesCli } from '../../src/cli/invoices';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * 我的发票 end to end below the pages (issue 11): requests recorded by InvoiceService, issued asynchronously by the
 * job queue against the sandbox issuer (real PDFs), red letters, the /i/<token> link over HTTP, the sandbox outbox.
 */
const DAY = 86_400_000;
/** Fixed vault keys: the operator commands open their own deps on this backend and must read what the app sealed. */
const PII = { PII_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`, PII_HMAC_KEY: Buffer.alloc(32, 8).toString('base64') };
let handle: TestBackendHandle;
let app: ListeningInstance;
let service: InvoiceService;
let orders: OrderService;
let seq = 0;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { env: { EINVOICE_SANDBOX_DELAY_MS: '150', EINVOICE_POLL_MS: '25', ...PII } });
  service = new InvoiceService(app.deps);
  orders = new OrderService(app.deps);
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a refusal');
}

const openidOf = () => `o-invoice-${backend}-${++seq}-${Date.now().toString(36)}`;

/** A paid order (对公汇款) for one certificate of `organization`. */
async function paidOrder(openid: string, organization = `梅州开票测试单位${seq}`): Promise<string> {
  const now = Date.now();
  const cert = await boundCertificate(app.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  await orders.markPaid(order.orderNo, { method: 'transfer', amountFen: order.totalFen, transactionId: `BANK-${order.orderNo}`, paidAt: new Date() });
  return order.orderNo;
}

const buyer = (title: string, extra: Partial<InvoiceBuyer> = {}): InvoiceBuyer => ({ buyerKind: 'organisation', title, taxId: '91440101MA5CYQ8X3X', email: 'buyer@example.com', ...extra });
const issued = (openid: string, acceptanceNo: string, status = 'issued') => until(() => service.detail(openid, acceptanceNo), (d) => d.status === status);

describe(`invoices (${backend})`, () => {
  it('When two paid orders are invoiced in one request, then 开票历史 shows it issued after the job, one line per order, with the PDF, a live link, the e-mail and 开票成功', async () => {
    const openid = openidOf();
    app.deps.sandboxWechat!.ensureUser(openid).subscribed = true;
    const [a, b] = [await paidOrder(openid, '梅州甲单位'), await paidOrder(openid, '梅州甲单位')];
    expect((await service.listInvoiceable(openid)).map((o) => o.orderNo).sort()).toEqual([a, b].sort());
    const result = await service.request(openid, { orderNos: [a, b], buyer: buyer('梅州甲单位') });
    expect(result).toMatchObject({ created: true, titleWarning: null });
    expect((await service.history(openid)).items[0]).toMatchObject({ acceptanceNo: result.acceptanceNo, status: 'issuing', statusLabel: '开票中' });

    const detail = await issued(openid, result.acceptanceNo);
    expect(detail).toMatchObject({ status: 'issued', statusLabel: '已开具', kind: 'digital', title: '梅州甲单位', totalFen: 40000, taxFen: 2264 });
    expect(detail.invoiceNumber).toMatch(/^\d{20}$/);
    expect(detail.lines.map((l) => [l.orderNo, l.totalFen, l.amountFen, l.taxFen])).toEqual([a, b].map((no) => [no, 20000, 18868, 1132]));
    expect(detail.files.map((f) => f.kind)).toEqual(['pdf', 'xml']);
    expect(detail.link).toMatch(new RegExp(`^${app.url}/i/[A-Za-z0-9_-]{32}$`));
    const page = await service.history(openid);
    expect(page.items[0]).toMatchObject({ acceptanceNo: result.acceptanceNo, invoiceNumber: detail.invoiceNumber, statusLabel: '已开具' });
    expect(page.items[0]!.orderNos.sort()).toEqual([a, b].sort());
    expect(await service.listInvoiceable(openid)).toEqual([]);

    const mail = await until(async () => app.deps.sandboxMailbox!.list().find((m) => m.subject.includes(detail.invoiceNumber!)), (m) => !!m);
    expect(mail!.to).toBe('buyer@example.com');
    expect(mail!.attachments[0]!.content.subarray(0, 5).toString()).toBe('%PDF-');
    expect(mail!.text).toContain(detail.link);
    const notice = await until(() => app.deps.db.getRepository(NoticeOutboxEntity).findOne({ where: { noticeKey: `inv-${result.acceptanceNo}` } }), (n) => n?.state === 'sent');
    expect(notice?.state).toBe('sent');
    const sent = app.deps.sandboxWechat!.outbox.filter((m) => m.openid === openid && m.kind === 'template').map((m) => m.body as { template_id: string; client_msg_id: string; url: string; data: Record<string, { value: string }> });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ template_id: 'sandbox-tpl-invoice-issued', client_msg_id: `inv-${result.acceptanceNo}`, url: `${app.url}/h5/invoices/${result.acceptanceNo}` });
    expect(sent[0]!.data.character_string1!.value).toBe(detail.invoiceNumber);
    expect((await until(() => service.detail(openid, result.acceptanceNo), (d) => d.emailState === 'sent')).emailState).toBe('sent');
  });

  it('When the same orders are submitted twice at once, then one request exists and both taps get its 受理单号', async () => {
    const openid = openidOf();
    const no = await paidOrder(openid);
    const [first, second] = await Promise.all([service.request(openid, { orderNos: [no], buyer: buyer('梅州双击单位') }), service.request(openid, { orderNos: [no], buyer: buyer('梅州双击单位') })]);
    expect(first.acceptanceNo).toBe(second.acceptanceNo);
    expect([first.created, second.created].sort()).toEqual([false, true]);
    expect((await service.history(openid)).total).toBe(1);
    const other = await paidOrder(openid);
    expect((await refusal(service.request(openid, { orderNos: [no, other], buyer: buyer('梅州双击单位') }))).userMessage).toContain('已申请开票');
  });

  it('When the provider fails an attempt, then the request shows 开具失败 with the reason, and an operator retry with a corrected title is a new attempt that issues it', async () => {
    const openid = openidOf();
    const no = await paidOrder(openid);
    const { acceptanceNo } = await service.request(openid, { orderNos: [no], buyer: buyer('开票失败测试单位') });
    const failed = await issued(openid, acceptanceNo, 'failed');
    expect(failed).toMatchObject({ status: 'failed', statusLabel: '开具失败' });
    expect(failed.failureReason).toContain('开票失败');
    const key = await new InvoiceIssuance(app.deps).retry(acceptanceNo, 'operator:test', { title: '梅州更正单位' });
    expect(key).toBe(`${acceptanceNo}02`);
    const done = await issued(openid, acceptanceNo);
    expect(done).toMatchObject({ status: 'issued', title: '梅州更正单位' });
    const attempts = await app.deps.db.getRepository(InvoiceAttemptEntity).find({ where: { attemptKey: key }, order: { id: 'ASC' } });
    expect(attempts.map((a) => a.state)).toEqual(['issued']);
  });

  it('When an issued invoice is red-lettered, then the red invoice is issued, the blue one shows 已红冲, both stay in history, the order is invoiceable again, and its refund waits for it', async () => {
    const openid = openidOf();
    const no = await paidOrder(openid);
    const { acceptanceNo } = await service.request(openid, { orderNos: [no], buyer: buyer('梅州红冲单位') });
    await issued(openid, acceptanceNo);
    expect(await refusal(orders.startRefund(no, new Date()))).toBeInstanceOf(InvoicedOrderRefundError);
    const red = await new RedLetters(app.deps).request(acceptanceNo, 'operator:test');
    expect(red.state).toBe('issuing');
    const redDetail = await issued(openid, red.redAcceptanceNo);
    expect(redDetail).toMatchObject({ direction: 'red', totalFen: -20000, relatedAcceptanceNo: acceptanceNo });
    expect(redDetail.invoiceNumber).toMatch(/^\d{20}$/);
    expect(await service.detail(openid, acceptanceNo)).toMatchObject({ status: 'reversed', statusLabel: '已红冲', relatedAcceptanceNo: red.redAcceptanceNo });
    expect((await service.history(openid)).items.map((i) => i.acceptanceNo).sort()).toEqual([acceptanceNo, red.redAcceptanceNo].sort());
    expect((await service.listInvoiceable(openid)).map((o) => o.orderNo)).toEqual([no]);
    const reissued = await new RedLetters(app.deps).reissue(acceptanceNo, 'operator:test', buyer('梅州红冲更正单位'));
    expect((await issued(openid, reissued)).title).toBe('梅州红冲更正单位');
    expect((await service.history(openid)).total).toBe(3);
  });

  it('When the buyer must confirm the red letter, then the blue invoice shows 待购方确认 until the buyer confirms, then 已红冲; the order refund is allowed after', async () => {
    const openid = openidOf();
    const no = await paidOrder(openid);
    const { acceptanceNo } = await service.request(openid, { orderNos: [no], buyer: buyer('梅州待确认单位') });
    await issued(openid, acceptanceNo);
    const red = await new RedLetters(app.deps).request(acceptanceNo, 'operator:test');
    expect(red.state).toBe('awaiting-buyer');
    expect(await service.detail(openid, acceptanceNo)).toMatchObject({ status: 'awaiting-buyer', statusLabel: '待购方确认', redLetterState: 'awaiting-buyer' });
    expect(app.deps.sandboxEInvoice!.confirmRed(`RC${red.redAcceptanceNo}`, true)).toBe('confirmed');
    await issued(openid, red.redAcceptanceNo);
    expect((await issued(openid, acceptanceNo, 'reversed')).status).toBe('reversed');
    expect((await orders.startRefund(no, new Date())).order.state).toBe('REFUNDING');
  });

  it('When a link is tampered with or revoked, then /i/ answers a plain 404; the real one opens with no-referrer and no-store, and the PDF downloads with its type and name', async () => {
    const openid = openidOf();
    const { acceptanceNo } = await service.request(openid, { orderNos: [await paidOrder(openid)], buyer: buyer('梅州链接单位') });
    const { link, invoiceNumber } = await issued(openid, acceptanceNo);
    const page = await fetch(link!);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = await page.text();
    expect(html).toContain('梅州链接单位');
    expect(html).toContain(invoiceNumber!);
    const pdf = await fetch(`${link}/pdf`);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toMatch(/^attachment; filename="invoice_\d{20}\.pdf"; filename\*=UTF-8''/);
    expect(pdf.headers.get('referrer-policy')).toBe('no-referrer');
    expect(pdf.headers.get('cache-control')).toBe('no-store');
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
    expect((await fetch(`${link}/xml`)).headers.get('content-type')).toBe('application/xml');

    const token = link!.split('/i/')[1]!;
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`${app.url}/i/${tampered}`, `${app.url}/i/${tampered}/pdf`, `${app.url}/i/short`]) {
      const res = await fetch(bad);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('发票链接无效');
    }
    expect(await new InvoiceLinks(app.deps).revoke(acceptanceNo, 'operator:test')).toEqual({ revoked: 1, reissued: false });
    expect((await fetch(link!)).status).toBe(404);
    expect((await fetch(`${link}/pdf`)).status).toBe(404);
    expect((await service.detail(openid, acceptanceNo)).link).toBeNull();
  });

  it("When another openid asks, then it cannot see someone else's request nor invoice their orders", async () => {
    const owner = openidOf();
    const stranger = openidOf();
    const no = await paidOrder(owner);
    expect(await service.listInvoiceable(stranger)).toEqual([]);
    expect((await refusal(service.request(stranger, { orderNos: [no], buyer: buyer('冒名单位') }))).status).toBe(404);
    const { acceptanceNo } = await service.request(owner, { orderNos: [no], buyer: buyer('梅州本人单位') });
    expect((await refusal(service.detail(stranger, acceptanceNo))).status).toBe(404);
    expect((await refusal(service.resendEmail(stranger, acceptanceNo))).status).toBe(404);
    expect((await service.history(stranger)).total).toBe(0);
  });

  it('When an order is refunded or closed, then it is not offered and cannot be invoiced', async () => {
    const openid = openidOf();
    const refunded = await paidOrder(openid);
    await orders.startRefund(refunded, new Date());
    const now = Date.now();
    const cert = await boundCertificate(app.deps, openid, { organization: '梅州关闭单位', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
    const closed = (await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() })).orderNo;
    await orders.cancel(closed, openid, new Date());
    expect(await service.listInvoiceable(openid)).toEqual([]);
    expect((await refusal(service.request(openid, { orderNos: [refunded], buyer: buyer('梅州退款单位') }))).userMessage).toBe('该订单已退款，不能开具发票');
    expect((await refusal(service.request(openid, { orderNos: [closed], buyer: buyer('梅州关闭单位') }))).userMessage).toBe('该订单已关闭，不能开具发票');
    expect((await service.history(openid)).total).toBe(0);
  });

  it('When two instances poll one provider attempt at once, then the invoice is recorded once (one number, one link, one e-mail, one notice)', async () => {
    // MariaDB: a second instance on the same database. The embedded default is one process by design (SQLite is
    // opened by one), so there the two pollers share it, as two workers of one process would.
    const second: TestInstance | null = backend === 'mysql' ? await startInstance(handle, { startJobs: false, env: { EINVOICE_POLL_MS: '25', ...PII } }) : null;
    try {
      const openid = openidOf();
      const { acceptanceNo } = await service.request(openid, { orderNos: [await paidOrder(openid)], buyer: buyer('梅州并发单位') });
      const repo = new InvoiceRepository();
      const key = `${acceptanceNo}01`;
      await until(() => repo.attempt(app.deps.db.manager, key), (a) => a?.state === 'accepted');
      await until(() => app.deps.einvoice.query({ attemptKey: key }), (q) => q.state === 'issued');
      // Both instances ask the same provider (the sandbox issuer lives in the first one's process).
      const pollers = [new InvoiceIssuance(app.deps), new InvoiceIssuance({ ...(second?.deps ?? app.deps), einvoice: app.deps.einvoice })];
      await Promise.all(pollers.map((p) => p.poll(key, 0)));
      const detail = await issued(openid, acceptanceNo);
      expect(detail.invoiceNumber).toMatch(/^\d{20}$/);
      const request = (await repo.byAcceptanceNo(app.deps.db.manager, acceptanceNo))!;
      expect(await app.deps.db.getRepository(InvoiceLinkEntity).count({ where: { requestId: request.id } })).toBe(1);
      expect(await app.deps.db.getRepository(InvoiceMailEntity).count({ where: { requestId: request.id } })).toBe(1);
      expect(await app.deps.db.getRepository(NoticeOutboxEntity).count({ where: { noticeKey: `inv-${acceptanceNo}` } })).toBe(1);
      expect((await repo.filesOf(app.deps.db.manager, request.id)).length).toBe(2);
    } finally {
      await second?.close();
    }
  });

  it('When an operator runs the invoice commands, then status names the issuer state and the failed request, revoke-link closes the link, and resend e-mails the PDF again', async () => {
    const cli = async (args: string[]) => {
      const lines: string[] = [];
      const io: CliIo = { env: { ...handle.env, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', USER: 'tester', EINVOICE_SANDBOX_DELAY_MS: '150', EINVOICE_POLL_MS: '25', ...PII }, out: (l) => lines.push(l), err: (l) => lines.push(l) };
      await invoicesCli(io, args);
      return lines.join('\n');
    };
    const openid = openidOf();
    const failed = await service.request(openid, { orderNos: [await paidOrder(openid)], buyer: buyer('开票失败运维单位') });
    await issued(openid, failed.acceptanceNo, 'failed');
    const status = await cli(['status']);
    expect(status).toMatch(/Issuer \(sandbox\): 开票员 沙箱开票员; login logged-in; 实人认证 valid; 授信额度 1000000\.00 元 left/);
    expect(status).toContain(failed.acceptanceNo);

    const ok = await service.request(openid, { orderNos: [await paidOrder(openid)], buyer: buyer('梅州运维单位') });
    const { link } = await issued(openid, ok.acceptanceNo);
    expect(await cli(['revoke-link', ok.acceptanceNo, '--new'])).toContain('1 link(s) revoked; a new link is on the detail page');
    expect((await fetch(link!)).status).toBe(404);
    const fresh = (await service.detail(openid, ok.acceptanceNo)).link;
    expect(fresh).not.toBe(link);
    expect((await fetch(fresh!)).status).toBe(200);

    expect(await cli(['resend', ok.acceptanceNo, '--to', 'finance@example.com'])).toContain('e-mail queued to f***@example.com');
    const request = (await new InvoiceRepository().byAcceptanceNo(app.deps.db.manager, ok.acceptanceNo))!;
    const mails = await until(() => app.deps.db.getRepository(InvoiceMailEntity).find({ where: { requestId: request.id } }), (rows) => rows.length === 2 && rows.every((r) => r.state === 'sent'));
    expect(mails.map((m) => m.state)).toEqual(['sent', 'sent']);
    await expect(cli(['retry'])).rejects.toThrow(/Usage/);
  });

  it("When an individual's invoice is older than the contact retention, then the e-mail and mobile are erased and the name stays; saved titles can be deleted", async () => {
    const openid = openidOf();
    const person: InvoiceBuyer = { buyerKind: 'individual', title: '张三', email: 'zhangsan@example.com', mobile: '13800138000' };
    const { acceptanceNo } = await service.request(openid, { orderNos: [await paidOrder(openid)], buyer: person });
    await issued(openid, acceptanceNo);
    expect((await service.titleSuggestions(openid)).recent.map((t) => t.buyer)).toEqual([person]);
    await applyInvoiceRetention(app.deps, new Date(Date.now() + CONTACTS_KEPT_MS - DAY));
    expect((await service.detail(openid, acceptanceNo)).buyer).toMatchObject({ title: '张三', email: 'zhangsan@example.com', mobile: '13800138000' });
    await applyInvoiceRetention(app.deps, new Date(Date.now() + CONTACTS_KEPT_MS + DAY));
    const after = (await service.detail(openid, acceptanceNo)).buyer;
    expect(after).toMatchObject({ buyerKind: 'individual', title: '张三', email: '' });
    expect(after.mobile).toBeUndefined();
    expect(await service.deleteAllSavedTitles(openid)).toBe(1);
    expect((await service.titleSuggestions(openid)).recent).toEqual([]);
  });
});
