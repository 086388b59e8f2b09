import { MESSAGES } from '../../src/modules/handler-authorisation/service';
import { OrderService } from '../../src/modules/orders/service';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { usePhoneApp } from '../helpers/use-phone-app';

/** 经办人授权 on a phone: a second handler of a unit is told their order goes to review, then sees 经办人待审核. */
jest.setTimeout(90_000);
const DAY = 86_400_000;
const ORG = '梅州市经办人授权演示有限公司';

const e2e = usePhoneApp();

// Runs after usePhoneApp's beforeAll (hooks run in the order they are registered): the app is up.
beforeAll(async () => {
  const now = Date.now();
  const cert = (openid: string, days: number) => boundCertificate(e2e.app.deps, openid, { organization: ORG, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + days * DAY), sandbox: true });
  // The unit's first handler has ordered already; the second person verified on their own phone.
  const first = await cert('oE2EAuthFirst', 20);
  await verifyHandler(e2e.app.deps, 'oE2EAuthFirst', { sandbox: true });
  await new OrderService(e2e.app.deps).createOrder({ openid: 'oE2EAuthFirst', items: [{ certificateId: first.id, years: 1 }], at: new Date(now) });
  e2e.app.deps.sandboxWechat!.ensureUser('oE2EAuthSecond', '王经办');
  await cert('oE2EAuthSecond', 25);
  await verifyHandler(e2e.app.deps, 'oE2EAuthSecond', { sandbox: true, name: '王经办' });
});

describe('经办人授权 at 375 px', () => {
  it('When a second handler of a unit orders, then the page says it needs review, the order is refused and the certificate shows 经办人待审核 without a checkbox', async () => {
    const page = await e2e.loggedInPhone('/h5/renew', { user: '王经办' });
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
