import { type Browser } from 'playwright-core';
import { horizontalOverflow, launchChromium, phoneContext, screenshot } from '../helpers/browser';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { sandboxCashierUrl } from '../../src/providers/wechatpay';

/** The sandbox WeChat Pay cashier on a phone: what the H5 page opens instead of WeixinJSBridge in sandbox mode. */
jest.setTimeout(60_000);

let handle: TestBackendHandle;
let app: ListeningInstance;
let browser: Browser;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  app.deps.sandboxWechatPay!.retryScheduleMs = [];
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await handle?.drop();
});

describe('sandbox WeChat Pay cashier at 375 px', () => {
  it('When the cashier opens for an order, then it shows merchant, description and amount with 确认支付 / 取消, and confirming returns with wechatpay=ok', async () => {
    const pay = app.deps.wechatpay;
    const outTradeNo = `E2E${Date.now()}`;
    const { prepayId } = await pay.jsapiPrepay({ outTradeNo, description: '数字证书续期 · 梅州市住房公积金 · 1年', amountFen: 20000, openid: 'oE2E', expiresAtMs: Date.now() + 30 * 60_000 });
    const ctx = await phoneContext(browser);
    const page = await ctx.newPage();
    await page.goto(sandboxCashierUrl(app.url, pay.jsapiPayParams(prepayId), `${app.url}/h5/`));
    await expect(page.locator('#wp-amount').innerText()).resolves.toContain('200.00');
    await expect(page.locator('#wp-description').innerText()).resolves.toContain('梅州市住房公积金');
    await expect(page.locator('#wp-confirm').innerText()).resolves.toBe('确认支付');
    await expect(page.locator('#wp-cancel').innerText()).resolves.toBe('取消');
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'wechatpay-cashier-375');
    // The return URL is the H5 page (which then asks for a login): seeing the redirect to it is enough here.
    const returned = page.waitForRequest((r) => r.url() === `${app.url}/h5/?wechatpay=ok`);
    await page.locator('#wp-confirm').click();
    await returned;
    expect((await pay.queryByOutTradeNo(outTradeNo))?.trade_state).toBe('SUCCESS');
    await ctx.close();
  });
});
