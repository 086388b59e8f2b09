import { type Browser } from 'playwright-core';
import { InvoiceService } from '../../src/modules/invoices/service';
import { OrderService } from '../../src/modules/orders/service';
import { horizontalOverflow, launchChromium, phoneContext, screenshot } from '../helpers/browser';
import { verifyHandler } from '../helpers/handlers';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * The invoice link in a phone browser with no cookies (not WeChat: any browser the link is pasted into), its 404
 * page, and the sandbox outbox /dev/mail: rendered at 375 px, no horizontal scrolling, screenshots kept.
 */
jest.setTimeout(90_000);
const DAY = 86_400_000;
let handle: TestBackendHandle;
let app: ListeningInstance;
let browser: Browser;
let link: string;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle, { env: { EINVOICE_SANDBOX_DELAY_MS: '50', EINVOICE_POLL_MS: '25' } });
  browser = await launchChromium();
  const openid = 'o-invoice-link-e2e';
  const orders = new OrderService(app.deps);
  const now = Date.now();
  const cert = await boundCertificate(app.deps, openid, { organization: '梅州市住房公积金管理中心', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  await orders.markPaid(order.orderNo, { method: 'transfer', amountFen: order.totalFen, transactionId: `BANK-${order.orderNo}`, paidAt: new Date() });
  const service = new InvoiceService(app.deps);
  const { acceptanceNo } = await service.request(openid, { orderNos: [order.orderNo], buyer: { buyerKind: 'organisation', title: '梅州市住房公积金管理中心', taxId: '91440101MA5CYQ8X3X', email: 'gjj@example.com' } });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const detail = await service.detail(openid, acceptanceNo);
    if (detail.link || Date.now() > deadline) {
      link = detail.link!;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The e-mail is sent by a job: wait for it so /dev/mail shows it.
  while (!app.deps.sandboxMailbox!.list().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await handle?.drop();
});

describe('the invoice link in a phone browser', () => {
  it('When the copied link is opened in a fresh browser, then the summary shows and the PDF downloads; a wrong token shows the 404 page', async () => {
    const context = await phoneContext(browser);
    try {
      const page = await context.newPage();
      const res = await page.goto(link);
      expect(res?.status()).toBe(200);
      await expect(page.locator('[data-field="title"]').textContent()).resolves.toBe('梅州市住房公积金管理中心');
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, 'invoice-link');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-file="pdf"]')]);
      expect(download.suggestedFilename()).toMatch(/^电子发票_\d{20}\.pdf$/);

      const missing = await page.goto(`${link.slice(0, -4)}AAAA`);
      expect(missing?.status()).toBe(404);
      await expect(page.locator('h2').textContent()).resolves.toBe('发票链接无效');
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, 'invoice-link-404');

      await page.goto(`${app.url}/dev/mail`);
      await expect(page.locator('[data-mail] h3').first().textContent()).resolves.toContain('电子发票');
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, 'dev-mail');
    } finally {
      await context.close();
    }
  });
});
