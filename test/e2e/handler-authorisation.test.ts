import { type Browser, type BrowserContext } from 'playwright-core';
import { MESSAGES } from '../../src/modules/handler-authorisation/service';
import { OrderService } from '../../src/modules/orders/service';
import { horizontalOverflow, launchChromium, phoneContext, screenshot } from '../helpers/browser';
import { verifyHandler } from '../helpers/handlers';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { boundCertificate } from '../helpers/pki-fixtures';

/** 经办人授权 on a phone: a second handler of a unit is told their order goes to review, then sees 经办人待审核. */
jest.setTimeout(90_000);
const DAY = 86_400_000;
const ORG = '梅州市经办人授权演示有限公司';

let handle: TestBackendHandle;
let app: ListeningInstance;
let browser: Browser;
let ctx: BrowserContext;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  browser = await launchChromium();
  const now = Date.now();
  const cert = (openid: string, days: number) => boundCertificate(app.deps, openid, { organization: ORG, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + days * DAY), sandbox: true });
  // The unit's first handler has ordered already; the second person verified on their own phone.
  const first = await cert('oE2EAuthFirst', 20);
  await verifyHandler(app.deps, 'oE2EAuthFirst', { sandbox: true });
  await new OrderService(app.deps).createOrder({ openid: 'oE2EAuthFirst', items: [{ certificateId: first.id, years: 1 }], at: new Date(now) });
  app.deps.sandboxWechat!.ensureUser('oE2EAuthSecond', '王经办');
  await cert('oE2EAuthSecond', 25);
  await verifyHandler(app.deps, 'oE2EAuthSecond', { sandbox: true, name: '王经办' });
  ctx = await phoneContext(browser);
});

afterAll(async () => {
  await ctx?.close();
  await browser?.close();
  await app?.close();
  await handle?.drop();
});

describe('经办人授权 at 375 px', () => {
  it('When a second handler of a unit orders, then the page says it needs review, the order is refused and the certificate shows 经办人待审核 without a checkbox', async () => {
    const page = await ctx.newPage();
    await page.goto(`${app.url}/h5/renew`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.locator('button.sa-user', { hasText: '王经办' }).click();
    await page.waitForURL(`${app.url}/h5/renew`);
    await expect(page.locator('[data-note]').innerText()).resolves.toBe(MESSAGES.needsReview);
    await screenshot(page, 'handler-authorisation-before');
    const box = page.locator('input.cam-opt__check');
    if (!(await box.isChecked())) await box.check();
    await page.getByRole('button', { name: '确认续期，生成订单' }).click();
    await page.waitForLoadState();
    await expect(page.locator('[data-error]').innerText()).resolves.toContain('经办人待审核');
    await expect(page.locator('.cam-badge').innerText()).resolves.toBe('经办人待审核');
    expect(await page.locator('input.cam-opt__check').count()).toBe(0);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-authorisation-pending');
  });
});
