import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext } from 'playwright-core';
import { INVOICE_FORM_MESSAGES as M } from '../../src/modules/invoices/schemas';
import { SANDBOX_SAVED_INVOICE_TITLE } from '../../src/providers/wechat-api/sandbox-state';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { paidOrder } from '../helpers/paid-orders';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * 我的发票 on a phone, all in sandbox mode: a handler with two paid orders ticks both (the total follows), meets
 * each of the form's messages, fills the form from the title saved in (sandbox) WeChat, submits, watches 开票中
 * turn into 已开具, copies the invoice link, and a phone browser with no cookies at all opens it and gets the PDF,
 * whose text holds the title, the tax ID and the amount.
 */
jest.setTimeout(120_000);
const OPENID = 'oE2EInvoiceHandler';
const e2e = usePhoneApp();
let orders: Array<{ orderNo: string; organization: string }> = [];

beforeAll(async () => {
  e2e.app.deps.sandboxWechat!.ensureUser(OPENID, '陈开票');
  orders = [
    await paidOrder(e2e.app.deps, OPENID, { organization: '梅州市发票旅程有限公司', sandbox: true }),
    await paidOrder(e2e.app.deps, OPENID, { organization: '梅州市发票旅程有限公司', sandbox: true }),
  ];
});

const errorUnder = (field: string) => `[data-error-for="${field}"]`;

/** Policy violations any page of `context` reports (as test/e2e/csp.test.ts watches them). */
async function watchViolations(context: BrowserContext): Promise<string[]> {
  const violations: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
  });
  context.on('console', (message) => {
    if (/CSP violation|Content Security Policy|Refused to/i.test(message.text())) violations.push(`${message.page()?.url()}: ${message.text()}`);
  });
  return violations;
}

describe('Phone: 我的发票 → 开票 → 已开具 → the link opens the PDF outside WeChat', () => {
  it('When a handler invoices two paid orders, then the invoice is issued and its copied link gives a PDF with title, tax ID and amount to a browser with no session', async () => {
    const context = await e2e.phoneContext();
    const violations = await watchViolations(context);
    const page = await context.newPage();
    await page.goto(`${e2e.app.url}/h5/invoices`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.locator('button.sa-user', { hasText: '陈开票' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/invoices`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: e2e.app.url });

    // 待开票: tick both; the total follows each tick.
    for (const o of orders) await page.locator(`[data-order="${o.orderNo}"]`).waitFor();
    await expect(page.locator('#pick-submit').isDisabled()).resolves.toBe(true);
    await page.locator(`label[for="o_${orders[0].orderNo}"]`).click();
    expect(await page.locator('#pick-total').innerText()).toBe('200.00');
    await page.locator(`label[for="o_${orders[1].orderNo}"]`).click();
    expect(await page.locator('#pick-total').innerText()).toBe('400.00');
    expect(await page.locator('#pick-count').innerText()).toBe('2');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'invoices-pending-375');
    await page.locator('#pick-submit').click();

    // The form: the title comes prefilled from the certificate's organisation.
    await page.waitForURL(/\/h5\/invoices\/new\?/);
    expect(await page.locator('[data-total]').innerText()).toBe('¥400.00');
    expect(await page.locator('#title').inputValue()).toBe('梅州市发票旅程有限公司');

    // Each mistake gets its own message under its field.
    await page.locator('#title').fill('');
    await page.locator('#taxId').fill('91441400MA4UU2H23X');
    await page.locator('#bankAccount').fill('6222-abc');
    await page.locator('#phone').fill('电话');
    await page.locator('#email').fill('caiwu@');
    await page.locator('#mobile').fill('12345678901');
    await page.locator('#invoice-submit').click();
    const expected: Record<string, string> = { title: M.titleRequired, taxId: M.taxIdCheckDigit, bankAccount: M.bankAccount, phone: M.phone, email: M.email, mobile: M.mobile };
    for (const [field, message] of Object.entries(expected)) expect(await page.locator(errorUnder(field)).innerText()).toBe(message);
    expect(page.url()).toMatch(/\/h5\/invoices\/new\?/);
    await screenshot(page, 'invoice-form-errors-375');
    await page.locator('#taxId').fill('');
    await page.locator('#email').fill('');
    await page.locator('#invoice-submit').click();
    expect(await page.locator(errorUnder('taxId')).innerText()).toBe(M.taxIdRequired);
    expect(await page.locator(errorUnder('email')).innerText()).toBe(M.emailRequired);
    await page.locator('#taxId').fill('1234');
    await page.locator('#taxId').blur();
    expect(await page.locator(errorUnder('taxId')).innerText()).toBe(M.taxIdFormat);

    // 选择微信发票抬头: the sandbox bridge checked our wx.config signature, so the button shows; pick the saved title.
    await page.locator('#wx-title').waitFor({ state: 'visible' });
    await page.locator('#wx-title').click();
    await page.locator('#wxsb-sheet').waitFor({ state: 'visible' });
    await screenshot(page, 'invoice-form-wechat-title-375');
    await page.locator('[data-wxsb-title="0"]').click();
    const saved = SANDBOX_SAVED_INVOICE_TITLE;
    expect(await page.locator('#title').inputValue()).toBe(saved.title);
    expect(await page.locator('#taxId').inputValue()).toBe(saved.taxNumber);
    expect(await page.locator('#bankAccount').inputValue()).toBe(saved.bankAccount);
    // Not the certificate's organisation: allowed, but said.
    await page.locator('[data-title-warning]').waitFor({ state: 'visible' });
    for (const field of Object.keys(expected)) if (field !== 'email' && field !== 'mobile') await page.locator(errorUnder(field)).waitFor({ state: 'hidden' });
    await page.locator('#email').fill('caiwu@example.cn');
    await page.locator('#mobile').fill('13800138000');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'invoice-form-filled-375');
    await page.locator('#invoice-submit').click();

    // The detail page: 开票中 while the (sandbox) provider works, then 已开具 by itself.
    await page.waitForURL(/\/h5\/invoices\/FP\w+\?created=1/);
    const first = await page.locator('.cam-status').getAttribute('data-status');
    expect(['issuing', 'issued']).toContain(first);
    if (first === 'issuing') {
      expect(await page.locator('.cam-status .cam-status__text').innerText()).toBe('开票中');
      await screenshot(page, 'invoice-issuing-375');
    }
    await page.locator('.cam-status[data-status="issued"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.cam-status .cam-status__text').innerText()).toBe('已开具');
    expect(await page.locator('[data-field="invoiceNumber"]').innerText()).toMatch(/^\d{20}$/);
    expect(await page.locator('[data-browser-note]').innerText()).toContain('在浏览器打开');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'invoice-issued-375');

    // Copy the link (Clipboard API; the page falls back to selecting text where there is none).
    const link = await page.locator('[data-invoice-link]').innerText();
    expect(link).toMatch(/\/i\/[\w-]{22,}$/);
    await page.locator('.cam-copy').click();
    await page.locator('#cam-copy-done', { hasText: '已复制' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);

    // 开票历史 shows it with the seed's four lines.
    const acceptanceNo = /\/h5\/invoices\/(FP\w+)/.exec(page.url())![1];
    await page.goto(`${e2e.app.url}/h5/invoices?tab=history`);
    const row = page.locator(`[data-invoice="${acceptanceNo}"]`);
    expect(await row.getAttribute('data-status')).toBe('issued');
    const rowText = await row.innerText();
    for (const part of [saved.title, acceptanceNo, '已开具']) expect(rowText).toContain(part);
    expect(rowText).toMatch(/发票编号\s+\d{20}/);
    expect(rowText).toMatch(/开票时间\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'invoices-history-375');

    // A phone browser outside WeChat: a new context, no cookies, no session.
    const outside = await e2e.phoneContext();
    expect(await outside.cookies()).toEqual([]);
    const browser = await outside.newPage();
    const summary = await browser.goto(link);
    expect(summary!.status()).toBe(200);
    expect(await browser.content()).toContain(saved.title);
    await screenshot(browser, 'invoice-link-375');
    // The page's own download button, as a person would tap it; the file comes as an attachment.
    const [download] = await Promise.all([browser.waitForEvent('download'), browser.getByRole('link', { name: /下载\s*PDF/ }).click()]);
    const dir = mkdtempSync(join(tmpdir(), 'invoice-e2e-'));
    await download.saveAs(join(dir, 'invoice.pdf'));
    expect(download.suggestedFilename()).toMatch(/\.pdf$/);
    const pdf = await outside.request.get(`${link}/pdf`);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect(Buffer.compare(await pdf.body(), readFileSync(join(dir, 'invoice.pdf')))).toBe(0);
    const text = execFileSync('pdftotext', ['-layout', join(dir, 'invoice.pdf'), '-'], { encoding: 'utf8' });
    expect(text).toContain(saved.title);
    expect(text).toContain(saved.taxNumber);
    expect(text).toMatch(/400\.00/);
    // Every page on the way ran under its Content-Security-Policy without a refusal (the sandbox bridge's fetch included).
    expect(violations).toEqual([]);
  });
});
