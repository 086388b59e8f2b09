import { randomBytes } from 'node:crypto';
import { inTransaction } from '../../src/lib/db/transaction';
import { BindingRepository } from '../../src/modules/binding/repository';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { FollowerRepository } from '../../src/modules/followers/repository';
import { SANDBOX_SUBSCRIBE_TEMPLATE } from '../../src/config/reminders';
import { SubscribeConsents } from '../../src/modules/reminders/subscribe-consents';
import { horizontalOverflow, passSandboxLiveness, screenshot } from '../helpers/browser';
import { until } from '../helpers/until';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * 到期提醒 on a phone, in sandbox mode: the handler form's optional mobile with its own consent (Chinese errors, the
 * masked number and 删除手机号 on the 已认证 page), and the certificate page's 订阅通知 opt-in through the sandbox
 * stand-in for WeChat (wx.config checked by the sandbox WeChat, the popup answer posted to /wechat by the simulator).
 */
jest.setTimeout(90_000);
const e2e = usePhoneApp();
const DAY = 86_400_000;

describe('Phone: reminder mobile and 订阅通知', () => {
  it('When a handler types a bad mobile, or a good one without ticking consent, then the form says why in Chinese; with consent it is kept, masked, and can be deleted', async () => {
    const page = await e2e.loggedInPhone('/h5/handler');
    await page.getByRole('button', { name: '同意并继续' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('张三');
    await page.locator('#idNumber').fill('11010519491231002X');
    await page.locator('#mobile').fill('1380013800');
    await page.getByRole('button', { name: '开始人脸核验' }).click();
    await page.locator('[data-error-mobile]').waitFor();
    expect(await page.locator('[data-error-mobile]').innerText()).toBe('请输入 11 位手机号码');

    await page.locator('#mobile').fill('13800138000');
    await page.getByRole('button', { name: '开始人脸核验' }).click();
    await page.locator('[data-error-mobile]').waitFor();
    expect(await page.locator('[data-error-mobile]').innerText()).toContain('请勾选同意');
    expect(await page.locator('[data-mobile-consent-text]').innerText()).toContain('证书到期提醒短信');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'handler-form-mobile-375');

    await page.locator('#mobileConsent').check();
    await passSandboxLiveness(page, '11010519491231002X');
    await page.locator('[data-mobile-masked]').waitFor();
    expect(await page.locator('[data-mobile-masked]').innerText()).toBe('138****8000');
    expect(await page.content()).not.toContain('13800138000');
    await screenshot(page, 'handler-success-mobile-375');

    await page.locator('[data-mobile-withdraw]').click();
    await page.locator('[data-mobile-flash]').waitFor();
    expect(await page.locator('[data-mobile-flash]').innerText()).toContain('已删除手机号');
    expect(await page.locator('#mobile').count()).toBe(1);
  });

  it('When a follower opens a certificate in (sandbox) WeChat and taps 订阅到期提醒 → 允许, then the webhook records one acceptance', async () => {
    const { deps } = e2e.app;
    const openid = `oE2ERemind${process.pid}`;
    deps.sandboxWechat!.ensureUser(openid, '李提醒');
    deps.sandboxWechat!.recordInteraction(openid, 'subscribe');
    const at = new Date(deps.clock.nowMs());
    await new FollowerRepository().apply(deps.db, openid, { kind: 'subscribe', scene: null }, at, true);
    const org = '梅州市提醒旅程有限公司';
    const cert = await deps.db.getRepository(CertificateEntity).save({
      fingerprintSha256: randomBytes(32).toString('hex'), serialHex: randomBytes(8).toString('hex'), issuerDn: 'CN=数安时代 Sandbox CA', subjectDn: `CN=${org},OU=梅州市住房公积金,O=${org}`,
      organization: org, creditCode: '91441400MA4UU2H23W', commonName: org, algorithm: 'RSA-2048', usage: 'sign', mediaSerial: 'GDCA0012345678', project: '梅州市住房公积金', certType: '机构证书',
      notBefore: new Date(at.getTime() - 300 * DAY), notAfter: new Date(at.getTime() + 20 * DAY), status: 'valid', revokedAt: null, supersededById: null,
      pairCertificateId: null, pem: 'sandbox', sandbox: true, createdAt: at, updatedAt: at,
    });
    await inTransaction(deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: true }, at));

    const page = await e2e.loggedInPhone(`/h5/certs/${cert.id}`, { user: '李提醒' });
    await page.locator('[data-wx-subscribe]').waitFor({ state: 'visible' });
    expect(await page.locator('[data-wx-subscribe]').innerText()).toContain('每订阅一次，最多收到一条到期提醒');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'cert-detail-subscribe-375');

    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('[data-wxsb-subscribe]').click();
    await page.locator('#wx-subscribe-result[data-status="accept"]').waitFor();
    const consents = new SubscribeConsents(deps.db, deps.clock);
    expect(await until(() => consents.grantsOf(openid, SANDBOX_SUBSCRIBE_TEMPLATE), (n) => n === 1)).toBe(1);
    await screenshot(page, 'cert-detail-subscribed-375');
  });
});
