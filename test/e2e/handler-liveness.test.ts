import { horizontalOverflow, passSandboxLiveness, screenshot } from '../helpers/browser';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * 经办人活体鉴别认证 in a phone-sized Chromium, in sandbox mode: sandbox WeChat login → consent → form → the
 * sandbox FaceID page (通过) → back to our callback → 认证成功 with masked values. Screenshots at 375 px.
 */
jest.setTimeout(60_000);

const e2e = usePhoneApp();

describe('handler liveness in a phone browser (sandbox FaceID)', () => {
  it('When a handler agrees, fills the form and passes the sandbox check, then the success page shows the masked name and ID number', async () => {
    const page = await e2e.loggedInPhone('/h5/handler');
    await page.getByRole('button', { name: '同意并继续' }).waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-consent-375');

    await page.getByRole('button', { name: '同意并继续' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('张三');
    await page.locator('#idNumber').fill('110105194912310021');
    await page.getByRole('button', { name: '开始人脸核验' }).click();
    await page.locator('[data-error-id]').waitFor();
    expect(await page.locator('[data-error-id]').innerText()).toContain('校验位不正确');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-form-error-375');

    await passSandboxLiveness(page, '11010519491231002X');
    await page.locator('[data-masked-id]').waitFor();
    expect(await page.locator('[data-masked-name]').innerText()).toBe('张*');
    expect(await page.locator('[data-masked-id]').innerText()).toBe('1****************X');
    expect(await page.content()).not.toContain('11010519491231002X');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-success-375');
  });
});
