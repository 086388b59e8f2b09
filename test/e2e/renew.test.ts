import { type Page } from 'playwright-core';
import { inTransaction } from '../../src/lib/db/transaction';
import { HandlerRepository } from '../../src/modules/handlers/repository';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { boundCertificate } from '../helpers/pki-fixtures';
import { usePhoneApp } from '../helpers/use-phone-app';

/** 续期缴费 on a phone (sandbox mode): choose certificates and years, the order, 对公汇款 with its code, history. */
jest.setTimeout(90_000);
const DAY = 86_400_000;
const OPENID = 'oE2ERenewHandler';

const e2e = usePhoneApp();

// Runs after usePhoneApp's beforeAll (hooks run in the order they are registered): the app is up.
beforeAll(async () => {
  // The handler exists in the sandbox WeChat, passed the liveness check, and bound two certificates of one unit.
  e2e.app.deps.sandboxWechat!.ensureUser(OPENID, '陈经办');
  const now = Date.now();
  for (const days of [20, 25]) {
    await boundCertificate(e2e.app.deps, OPENID, { organization: '梅州市住房公积金管理中心梅江区办事处', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + days * DAY), at: new Date(now), sandbox: true });
  }
  await inTransaction(e2e.app.deps.db, (em) => new HandlerRepository().upsertVerified(em, {
    openid: OPENID, nameSealed: 'sealed', nameMasked: '陈*', idNumberSealed: 'sealed', idNumberIndex: 'idx-e2e-renew', idNumberMasked: '4414**********0011',
    method: 'liveness', attemptId: 1, verifiedAt: new Date(now), purgeAfter: new Date(now + 5 * 365 * DAY), sandbox: true,
  }, new Date(now)));
});

async function fits(page: Page) {
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
}

describe('续期缴费 at 375 px', () => {
  it('When the handler ticks both certificates for 2 years, then the preview and the order say 800.00, 对公汇款 shows a 6-digit code, and 我的订单 lists it', async () => {
    const page = await e2e.loggedInPhone('/h5/renew', { user: '陈经办' });
    const boxes = page.locator('input.cam-opt__check');
    expect(await boxes.count()).toBe(2);
    await expect(page.locator('[data-price]').first().innerText()).resolves.toContain('200.00 元/年');
    for (let i = 0; i < 2; i++) {
      const box = boxes.nth(i);
      // WeUI's checkbox: the input itself is hidden, its round icon (in the label) is what a finger taps.
      if (!(await box.isChecked())) await page.locator(`label[for="${(await box.getAttribute('id'))!}"] .weui-icon-checked`).click();
      expect(await box.isChecked()).toBe(true);
      await page.locator(`#y_${(await box.getAttribute('name'))!.slice(2)}`).selectOption('2');
    }
    await expect(page.locator('#preview-total').innerText()).resolves.toBe('800.00');
    await fits(page);
    await screenshot(page, 'renew-375');

    await page.getByRole('button', { name: '确认续期，生成订单' }).click();
    await page.waitForURL(/\/h5\/orders\/R\d{8}[A-Z0-9]{16}\?created=1$/);
    await expect(page.locator('[data-total]').innerText()).resolves.toBe('¥800.00');
    await expect(page.locator('.cam-hero').innerText()).resolves.toContain('待支付');
    expect(await page.locator('[data-pay=wechat]').isVisible()).toBe(true);
    await fits(page);
    await screenshot(page, 'order-375');

    await page.locator('[data-pay=transfer]').click();
    await page.waitForURL(/\/transfer$/);
    const code = await page.locator('#transfer-code').inputValue();
    expect(code).toMatch(/^\d{6}$/);
    await expect(page.locator('[data-amount]').innerText()).resolves.toBe('¥800.00');
    await expect(page.locator('[data-warning]').innerText()).resolves.toContain('只能备注 6 位数字');
    await page.locator('#copy-code').click();
    await page.locator('#cam-copy-done').waitFor({ state: 'visible' });
    await fits(page);
    await screenshot(page, 'transfer-375');

    await page.goto(`${e2e.app.url}/h5/orders`);
    expect(await page.locator('[data-order]').count()).toBe(1);
    await expect(page.locator('[data-order]').first().innerText()).resolves.toContain('¥800.00');
    await fits(page);
    await screenshot(page, 'orders-375');
  });
});
