import { type Page } from 'playwright-core';
import { HandlerDocumentService } from '../../src/modules/handler-documents/service';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { photoJpeg, tinyPng } from '../helpers/images';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The non-face alternative in a phone-sized Chromium (375 px, sandbox mode): from the liveness consent screen
 * to the documents page, a wrong ID number, then three photos → 审核中; the operator approves → 已通过 and
 * 续期缴费 opens. Screenshots of each state under test-results/.
 */
jest.setTimeout(60_000);

const e2e = usePhoneApp();

async function choosePhotos(page: Page) {
  await page.locator('#file-id-front').setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: tinyPng(320, 200, [96, 160, 220]) });
  await page.locator('#file-id-back').setInputFiles({ name: 'back.jpg', mimeType: 'image/jpeg', buffer: await photoJpeg('back', 320, 200) });
  await page.locator('#file-authorisation').setInputFiles({ name: 'letter.png', mimeType: 'image/png', buffer: tinyPng(200, 280, [250, 245, 235]) });
}

describe('handler documents in a phone browser', () => {
  it('When a handler declines the face check, fills the form and uploads three photos, then the page shows 审核中; after approval it shows 已通过 and 续期缴费 opens', async () => {
    const page = await e2e.loggedInPhone('/h5/handler');
    await page.getByRole('link', { name: '不同意人脸识别，改为上传证件人工审核' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/documents`);
    await page.getByRole('button', { name: '提交人工审核' }).waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-documents-form-375');

    await page.locator('#name').fill('王五');
    await page.locator('#idNumber').fill('110105194912310021');
    await page.locator('#organisation').fill('梅州市住房公积金管理中心');
    await choosePhotos(page);
    await page.locator('#consent').check();
    await page.getByRole('button', { name: '提交人工审核' }).click();
    await page.locator('[data-error-id]').waitFor();
    expect(await page.locator('[data-error-id]').innerText()).toContain('校验位不正确');
    expect(await page.locator('#name').inputValue()).toBe('王五');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-documents-error-375');

    await page.locator('#idNumber').fill('11010519491231002X');
    await choosePhotos(page);
    await page.locator('#consent').check();
    await screenshot(page, 'handler-documents-chosen-375');
    await page.getByRole('button', { name: '提交人工审核' }).click();
    await page.locator('[data-state="pending"]').waitFor();
    expect(await page.locator('[data-status]').innerText()).toBe('审核中');
    expect(await page.locator('[data-masked-name]').innerText()).toBe('王*');
    expect(await page.locator('[data-masked-id]').innerText()).toBe('1****************X');
    expect(await page.content()).not.toContain('11010519491231002X');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-documents-pending-375');

    const service = new HandlerDocumentService(e2e.app.deps);
    const [submission] = await service.listPending();
    await service.approve(submission!.id, 'e2e');
    await page.reload();
    await page.locator('[data-state="approved"]').waitFor();
    expect(await page.locator('[data-status]').innerText()).toBe('已通过');
    await screenshot(page, 'handler-documents-approved-375');
    await page.goto(`${e2e.app.url}/h5/renew`);
    expect(new URL(page.url()).pathname).toBe('/h5/renew');
  });

  it('When the operator rejects a submission, then the handler sees 未通过 with the reason above the form to submit again', async () => {
    const page = await e2e.loggedInPhone('/h5/handler/documents');
    await page.locator('#name').fill('赵六');
    await page.locator('#idNumber').fill('11010519491231002X');
    await page.locator('#organisation').fill('梅州市某单位');
    await choosePhotos(page);
    await page.locator('#consent').check();
    await page.getByRole('button', { name: '提交人工审核' }).click();
    await page.locator('[data-state="pending"]').waitFor();
    const service = new HandlerDocumentService(e2e.app.deps);
    const [submission] = await service.listPending();
    await service.reject(submission!.id, 'e2e', '授权委托书未加盖单位公章，请盖章后重新拍照上传');
    await page.reload();
    await page.locator('[data-rejected]').waitFor();
    expect(await page.locator('[data-rejected]').innerText()).toContain('未通过：授权委托书未加盖单位公章');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-documents-rejected-375');
  });
});
