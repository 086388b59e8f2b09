import { OrderService } from '../../src/modules/orders/service';
import { horizontalOverflow, passSandboxLiveness, screenshot } from '../helpers/browser';
import { boundCertificate } from '../helpers/pki-fixtures';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The payment journey on a phone, all in sandbox mode: a bound handler opens 续期缴费, is sent to the liveness
 * check first (consent → form → sandbox FaceID → verified), orders one certificate for a year at the seed's
 * price, pays in the sandbox cashier, and the result page shows the order paid — on the server's word, which
 * came from the verified notify.
 */
jest.setTimeout(90_000);
const DAY = 86_400_000;
const OPENID = 'oE2EPayHandler';

const e2e = usePhoneApp();

// Runs after usePhoneApp's beforeAll (hooks run in the order they are registered): the app is up.
beforeAll(async () => {
  e2e.app.deps.sandboxWechat!.ensureUser(OPENID, '梁经办');
  const now = Date.now();
  await boundCertificate(e2e.app.deps, OPENID, { organization: '梅州市支付旅程有限公司', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 20 * DAY), sandbox: true });
});

describe('Phone: liveness → 续期缴费 → WeChat Pay (sandbox cashier) → paid', () => {
  it('When a bound handler renews for the first time, then the liveness check comes first and the paid order shows 支付成功', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/h5/renew`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.locator('button.sa-user', { hasText: '梁经办' }).click();

    // First business step: the handler check, with its own consent screen.
    await page.waitForURL(/\/h5\/handler/);
    await page.getByRole('button', { name: '同意并继续' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('梁经办');
    await passSandboxLiveness(page, '11010519491231002X');
    await page.locator('[data-next]').click();
    await page.waitForURL(`${e2e.app.url}/h5/renew`);

    // Order one certificate for one year at the seed's price.
    const box = page.locator('input.cam-opt__check').first();
    if (!(await box.isChecked())) await box.check();
    await page.getByRole('button', { name: '确认续期，生成订单' }).click();
    await page.waitForURL(/\/h5\/orders\/R\w+\?created=1$/);
    const orderNo = /\/h5\/orders\/(R\w+)/.exec(page.url())![1];
    await page.locator('[data-total]').waitFor();
    expect(await page.locator('[data-total]').innerText()).toBe('¥200.00');

    // 微信支付: in sandbox mode the cashier stands in for WeixinJSBridge.
    await page.locator('[data-pay=wechat]').click();
    await page.waitForURL(/\/sandbox\/wechatpay\/cashier\?/);
    expect(await page.content()).toContain('200.00');
    await screenshot(page, 'pay-cashier-375');
    await page.locator('#wp-confirm').click();
    await page.waitForURL(new RegExp(`/h5/orders/${orderNo}/paid`));
    // The page refreshes itself until the server has the verified notify.
    await page.locator('[data-state="paid"]').waitFor({ timeout: 15_000 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'pay-paid-375');
    expect((await new OrderService(e2e.app.deps).getOrder(orderNo))!).toMatchObject({ state: 'PAID', paymentMethod: 'wechatpay', paidAmountFen: 20000 });
  });
});
