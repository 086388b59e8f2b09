import { horizontalOverflow, screenshot } from '../helpers/browser';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The newcomer's path in a real browser, in sandbox mode (no WECHAT_* settings): /h5/ → sandbox WeChat
 * authorize page → H5 home; the error page; and the /dev/wechat simulator talking to our /wechat over HTTP.
 */
jest.setTimeout(60_000);

const e2e = usePhoneApp();

describe('H5 home in a phone browser (sandbox mode)', () => {
  it('When a newcomer opens /h5/, then the sandbox authorize page logs them in and the home shows the four tiles without horizontal scrolling', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/h5/`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.getByRole('heading', { name: '微信授权（沙箱）' }).waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'sandbox-authorize-375');

    await page.getByLabel('新测试用户昵称').fill('李经办');
    await page.getByRole('button', { name: '新建并授权' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/`);

    expect(await page.title()).toBe('数安CA管家');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('zh-CN');
    expect(await page.locator('.cam-sandbox-banner').innerText()).toContain('沙箱模式');
    for (const label of ['绑定证书', '我的数字证书', '续期缴费', '我的发票']) {
      const tile = page.locator('.cam-tile', { hasText: label });
      expect(await tile.isVisible()).toBe(true);
      const box = (await tile.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(375);
    }
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'h5-home-375');

    await page.locator('.cam-tile', { hasText: '绑定证书' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/bind`);
    expect(await page.getByLabel('绑定码').isVisible()).toBe(true);
    await page.getByRole('link', { name: '返回首页' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/`);

    // 续期缴费 is built; a handler not yet verified is sent to the liveness check first (seed 四).
    await page.locator('.cam-tile', { hasText: '续期缴费' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler?next=${encodeURIComponent('/h5/renew')}`);
    await page.goto(`${e2e.app.url}/h5/`);
  });

  it('When a known test user comes back in a new browser, then they pick themselves on the authorize page', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/h5/renew`);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'sandbox-authorize-users-375');
    await page.locator('button.sa-user', { hasText: '李经办' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler?next=${encodeURIComponent('/h5/renew')}`);
  });

  it('When users have logged in, then the developer page lists the OAuth code exchanges with the code hidden', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/dev/wechat/api-calls`);
    await page.getByRole('heading', { name: '沙箱微信接口调用记录' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toContain('sns/oauth2/access_token');
    expect(text).toContain('[redacted]');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'dev-api-calls-375');
  });

  it('When a page does not exist, then the WeUI error page shows the message, the request id and a way home', async () => {
    const page = await e2e.phone();
    const res = await page.goto(`${e2e.app.url}/h5-nowhere`);
    expect(res?.status()).toBe(404);
    expect(await page.locator('.weui-msg__title').innerText()).toBe('页面不存在');
    expect(await page.locator('.weui-footer__text').first().innerText()).toMatch(/请求编号：[0-9a-f-]{36}/);
    expect(await page.getByRole('link', { name: '返回首页' }).isVisible()).toBe(true);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'error-404-375');
  });

  it('When the OAuth state does not match, then the error page explains it in Chinese with a 403', async () => {
    const page = await e2e.phone();
    const res = await page.goto(`${e2e.app.url}/oauth/callback?code=abc&state=forged`);
    expect(res?.status()).toBe(403);
    expect(await page.locator('.weui-msg__desc').innerText()).toContain('登录校验失败');
    await screenshot(page, 'error-403-375');
  });

  it('When someone enters as a 朋友圈快照 user, then the home says they can only browse', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/h5/`);
    await page.locator('label[for=snapshot]').click();
    await page.getByRole('button', { name: '新建并授权' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/`);
    expect(await page.locator('.cam-notice').innerText()).toContain('朋友圈快照页');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'h5-home-snapshot-375');
  });

  it('When the site root is opened in sandbox mode, then a landing links to the H5 app and the simulator', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/`);
    expect(await page.getByRole('link', { name: /进入数安CA管家/ }).isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: /微信模拟器/ }).isVisible()).toBe(true);
    await screenshot(page, 'landing-375');
  });
});

describe('/dev/wechat simulator', () => {
  it('When a person follows as a new test user, then the account’s welcome reply appears in the conversation', async () => {
    const page = await e2e.desktop();
    await page.goto(`${e2e.app.url}/dev/wechat`);
    await page.getByLabel('新用户昵称').fill('王经办');
    await page.getByRole('button', { name: '新建用户' }).click();
    await page.waitForURL(/\/dev\/wechat\?openid=/);

    await page.getByLabel('关注场景值').fill('meizhou_gjj');
    await page.getByRole('button', { name: '关注', exact: true }).click();
    const reply = page.locator('.dw-msg--account').first();
    await reply.waitFor({ timeout: 10_000 });
    expect(await reply.innerText()).toContain('欢迎关注');
    expect(await page.locator('#dw-sub').innerText()).toBe('已关注');

    await page.getByLabel('消息内容').fill('续期');
    await page.getByRole('button', { name: '发送' }).click();
    await page.locator('.dw-msg--account', { hasText: '证书续期' }).waitFor({ timeout: 10_000 });
    const openid = new URL(page.url()).searchParams.get('openid')!;
    expect(e2e.app.deps.sandboxWechat!.users.get(openid)?.qrScene).toBe('meizhou_gjj');
    await screenshot(page, 'dev-wechat-desktop');

    const small = await e2e.phone();
    await small.goto(page.url());
    await small.locator('.dw-msg--account').first().waitFor();
    expect(await horizontalOverflow(small)).toBeLessThanOrEqual(0);
    await screenshot(small, 'dev-wechat-375');
  });
});
