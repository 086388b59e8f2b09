import { type Browser, type Page } from 'playwright-core';
import { desktopContext, horizontalOverflow, phoneContext, screenshot } from '../helpers/browser';
import { BindingCodeService } from '../../src/modules/binding/codes';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { type TestBackendHandle } from '../helpers/harness';
import { freePort, type ListeningInstance, startListening } from '../helpers/listening';
import { startPcKeyAgentStack, type PcKeyAgentStack } from '../helpers/pc-key-agent';
import { createTokenWithCertificate, type SoftTokenFixture } from '../helpers/pki-fixtures';

/**
 * The binding journey in real browsers, in sandbox mode: the PC half (/capc/ with a real key agent serving a
 * soft token whose certificate the app's built-in CA issued) leaves the code and the media serial in `journey`;
 * the phone half (below, appended by the phone-binding slice) types them in /h5/bind.
 */
jest.setTimeout(90_000);
/** 8 characters, none of those read alike (0/O, 1/I/L). */
const UNAMBIGUOUS_CODE = /^(?!.*[01OIL])[0-9A-Z]{8}$/;

let stack: PcKeyAgentStack;
let handle: TestBackendHandle;
let app: ListeningInstance;
let tokenDir: string;
let browser: Browser;
let agentPortInUse = 0;
const keyAgentUrl = () => `http://127.0.0.1:${agentPortInUse}`;

/** What the PC half hands to the phone half. */
export const journey: { token?: SoftTokenFixture; code?: string; qrUrl?: string; appUrl?: string } = {};

beforeAll(async () => {
  stack = await startPcKeyAgentStack({ tokenDirPrefix: 'journey-tokens-' });
  ({ handle, app, tokenDir, browser, agentPort: agentPortInUse } = stack);
  journey.appUrl = app.url;
  journey.token = await createTokenWithCertificate(app.deps.ca, { dir: tokenDir, pin: '135790', organization: '梅州市旅程建设有限公司', algorithm: 'RSA-2048' });
});

afterAll(async () => {
  await stack?.close();
});

async function desktop(): Promise<Page> {
  const ctx = await desktopContext(browser);
  stack.contexts.push(ctx);
  return ctx.newPage();
}

describe('PC: /capc/ gives a binding code', () => {
  it('When the key agent is not running, then the page explains how to install and start it', async () => {
    const port = await freePort(); // nothing listens there
    const lonely = await startListening(handle, { env: { KEY_AGENT_URL: `http://127.0.0.1:${port}` } });
    try {
      const page = await desktop();
      await page.goto(`${lonely.url}/capc/`);
      await page.locator('#panel-no-agent').waitFor({ state: 'visible' });
      const text = await page.locator('#panel-no-agent').innerText();
      expect(text).toContain('未检测到证书助手');
      expect(text).toContain('GDCA 数字证书客户端');
      expect(text).toContain('npm run key-agent');
      await screenshot(page, 'capc-no-agent-1280');
    } finally {
      await lonely.close();
    }
  });

  it('When the site is not among the agent\'s allowed origins, then the page says the agent refused this address', async () => {
    const stranger = await startListening(handle, { env: { KEY_AGENT_URL: keyAgentUrl() } });
    try {
      const page = await desktop();
      await page.goto(`${stranger.url}/capc/`);
      await page.locator('#panel-blocked').waitFor({ state: 'visible' });
      expect(await page.locator('#blocked-title').innerText()).toBe('证书助手拒绝了本网站的请求');
      expect(await page.locator('#origin-steps').innerText()).toContain(`${stranger.url}/capc/`);
      await screenshot(page, 'capc-origin-refused-1280');
    } finally {
      await stranger.close();
    }
  });

  it('When the holder picks the certificate and types a wrong PIN, then the tries left are shown; with the right PIN the code, countdown and QR appear', async () => {
    const token = journey.token!;
    const page = await desktop();
    // The page's clock is ours to move (the countdown); the server keeps real time.
    await page.clock.install();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(`${app.url}/capc/`);
    await page.locator('#panel-select').waitFor({ state: 'visible' });
    const card = page.locator('.capc-cert', { hasText: '梅州市旅程建设有限公司' });
    await card.waitFor();
    const cardText = await card.innerText();
    expect(cardText).toContain('梅州市住房公积金 · 机构证书');
    expect(cardText).toContain(token.mediaSerial.slice(-4));
    expect(cardText).not.toContain(token.mediaSerial); // masked but the last four
    await card.click();
    await screenshot(page, 'capc-select-1280');

    await page.getByLabel('证书密码（PIN 码）').fill('000000');
    await page.getByRole('button', { name: '获取绑定码' }).click();
    await page.locator('#select-error').waitFor({ state: 'visible' });
    expect(await page.locator('#select-error').innerText()).toContain('证书密码错误，还可尝试 5 次');
    expect(await page.getByLabel('证书密码（PIN 码）').inputValue()).toBe('');
    await screenshot(page, 'capc-wrong-pin-1280');

    await page.getByLabel('证书密码（PIN 码）').fill(token.pin);
    await page.getByRole('button', { name: '获取绑定码' }).click();
    await page.locator('#panel-result').waitFor({ state: 'visible' });
    const parts = await page.locator('#code span').allInnerTexts();
    expect(parts).toHaveLength(2);
    const code = parts.join('');
    expect(code).toMatch(UNAMBIGUOUS_CODE);
    expect(await page.locator('#countdown').innerText()).toMatch(/有效期剩余 (10:00|9:5\d)/);
    expect(await page.locator('#qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    expect(await page.locator('.capc-result__qr').innerText()).toContain('用微信扫一扫，在手机上直接绑定');
    // The QR's link as text too (README: open it in a narrow window to walk the phone half without a camera).
    expect(await page.locator('#qr-url').innerText()).toMatch(new RegExp(`^${app.url}/h5/bind\\?t=[A-Za-z0-9_-]+$`));
    const side = await page.locator('.capc-side').innerText();
    expect(side).toContain('客户服务');
    expect(side).toContain('介质编号后四位');
    expect(await page.content()).not.toContain(token.pin);
    await screenshot(page, 'capc-code-1280');
    expect(consoleErrors).toEqual([]);
    journey.code = code;
  });

  it('When the countdown runs out, then the code is struck through and 重新获取 signs again for a new code', async () => {
    const token = journey.token!;
    const page = await desktop();
    await page.clock.install();
    await page.goto(`${app.url}/capc/`);
    await page.getByLabel('证书密码（PIN 码）').fill(token.pin);
    await page.getByRole('button', { name: '获取绑定码' }).click();
    await page.locator('#panel-result').waitFor({ state: 'visible' });
    const first = (await page.locator('#code span').allInnerTexts()).join('');
    expect(await page.getByRole('button', { name: '重新获取' }).isVisible()).toBe(false);

    await page.clock.fastForward('10:01');
    await page.getByRole('button', { name: '重新获取' }).waitFor({ state: 'visible' });
    expect(await page.locator('#countdown').innerText()).toContain('绑定码已过期');
    await screenshot(page, 'capc-expired-1280');

    await page.getByRole('button', { name: '重新获取' }).click();
    await page.getByLabel('证书密码（PIN 码）').fill(token.pin);
    await page.getByRole('button', { name: '获取绑定码' }).click();
    await page.locator('#countdown', { hasText: '有效期剩余' }).waitFor();
    const second = (await page.locator('#code span').allInnerTexts()).join('');
    expect(second).not.toBe(first);
    // The newest code replaced the earlier ones: the phone half uses this one.
    journey.code = second;
  });
});

// ---- Phone half (appended by the phone-binding slice): use journey.code, journey.token.mediaSerial, journey.qrUrl, journey.appUrl ----

async function phone(): Promise<Page> {
  const ctx = await phoneContext(browser);
  stack.contexts.push(ctx);
  return ctx.newPage();
}

describe('Phone: /h5/bind with the code, then 我的数字证书', () => {
  it('When the handler types the code and the last 4 of the media serial, then 我的数字证书 shows the certificate with its validity', async () => {
    const token = journey.token!;
    const page = await phone();
    await page.goto(`${app.url}/h5/bind`);
    // WeChat OAuth, as the sandbox plays it: a new test user consents and comes back to /h5/bind.
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.getByLabel('新测试用户昵称').fill('梅州经办人');
    await page.getByRole('button', { name: '新建并授权' }).click();
    await page.waitForURL(/\/h5\/bind$/);
    await screenshot(page, 'h5-bind-375');
    expect(await horizontalOverflow(page)).toBe(0);

    await page.getByLabel('绑定码').fill('0000-0000');
    await page.getByLabel('介质编号').fill(token.mediaSerial.slice(-4));
    await page.getByRole('button', { name: '绑定' }).click();
    expect(await page.locator('[data-error]').innerText()).toBe('绑定码错误，请核对后重新输入');
    await screenshot(page, 'h5-bind-error-375');

    await page.getByLabel('绑定码').fill(journey.code!.toLowerCase());
    await page.getByLabel('介质编号').fill(token.mediaSerial.slice(-4));
    await page.getByRole('button', { name: '绑定' }).click();
    await page.getByRole('heading', { name: '绑定成功' }).waitFor();
    await screenshot(page, 'h5-bind-done-375');

    await page.goto(`${app.url}/h5/certs`);
    const card = page.locator('.cam-cert', { hasText: '梅州市旅程建设有限公司' });
    await card.waitFor();
    const text = await card.innerText();
    const shanghai = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(d);
    expect(text).toContain(`有效期 ${shanghai(token.cert.notBefore)} 至 ${shanghai(token.cert.notAfter)}`);
    expect(text).toContain('有效');
    expect(text).toContain(`****${token.mediaSerial.slice(-4)}`);
    expect(text).not.toContain(token.mediaSerial);
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'h5-certs-375');

    await card.locator('.cam-cert__link').click();
    await page.waitForURL(/\/h5\/certs\/\d+$/);
    const detail = await page.locator('.weui-form-preview').innerText();
    expect(detail).toContain(token.cert.serialHex.toUpperCase());
    expect(detail).toContain('RSA 2048');
    expect(detail).toContain('证书指纹');
    expect(detail).toContain(token.cert.fingerprintSha256.slice(0, 2).toUpperCase());
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'h5-cert-detail-375');

    await page.getByRole('link', { name: '解除绑定' }).click();
    await page.getByRole('button', { name: '确认解除绑定' }).waitFor();
    await screenshot(page, 'h5-cert-unbind-confirm-375');
  });

  it('When the QR is scanned and the certificate is inside its renewal window, then only the last 4 are asked and the H5 home lists it under 待办事项', async () => {
    const soon = await createTokenWithCertificate(app.deps.ca, {
      dir: tokenDir, organization: '梅州市即将到期有限公司', algorithm: 'SM2', notAfter: new Date(Date.now() + 20 * 86_400_000),
    });
    const accepted = await certificateServiceFor(app.deps).acceptPresented({ pem: soon.certificatePem, mediaSerial: soon.mediaSerial, at: new Date() });
    const { qrToken } = await new BindingCodeService(app.deps).issue(accepted.id, { sandbox: true });
    const page = await phone();
    // What WeChat's scanner opens: the QR's URL, through OAuth, back to the bind page with the code filled in.
    await page.goto(`${app.url}/h5/bind?t=${qrToken}`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.getByRole('button', { name: '新建并授权' }).click();
    await page.waitForURL(/\/h5\/bind$/);
    expect(await page.locator('[data-scanned]').innerText()).toBe('已通过扫码填入');
    expect(await page.getByLabel('绑定码').count()).toBe(0);
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'h5-bind-scanned-375');
    await page.getByLabel('介质编号').fill(soon.mediaSerial.slice(-4));
    await page.getByRole('button', { name: '绑定' }).click();
    await page.getByRole('heading', { name: '绑定成功' }).waitFor();

    await page.goto(`${app.url}/h5/`);
    const todos = page.locator('[data-todos]');
    await todos.waitFor();
    const text = await todos.innerText();
    expect(text).toContain('梅州市即将到期有限公司 · 证书待续期');
    expect(text).toContain('即将到期');
    expect(text).toMatch(/剩余 (19|20) 天/);
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'h5-home-todos-375');
    await page.goto(`${app.url}/h5/certs`);
    await screenshot(page, 'h5-certs-soon-375');
  });
});
