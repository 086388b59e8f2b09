import { type Browser, type Page } from 'playwright-core';
import { openSoftTokenStore } from '../../src/key-agent/soft-token-admin';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { desktopContext, horizontalOverflow, passSandboxLiveness, phoneContext, screenshot } from '../helpers/browser';
import { type ListeningInstance } from '../helpers/listening';
import { startPcKeyAgentStack, type PcKeyAgentStack } from '../helpers/pc-key-agent';
import { createTokenWithCertificate } from '../helpers/pki-fixtures';

/**
 * The seed's whole journey on a fresh database, in one test, as a person walks it (sandbox mode): follow the account
 * in the WeChat simulator → get a binding code at /capc/ on the PC → bind on the phone → the handler's liveness check
 * → pay 续期缴费 in the sandbox cashier → renew at /gdca-page/redirect?busyType=8 on the PC → 实时制证成功 → 我的数字证书
 * on the phone shows the new validity.
 */
jest.setTimeout(180_000);
const DAY = 86_400_000;
const NICKNAME = '林经办';
const ORGANIZATION = '梅州市全程续期有限公司';
const shanghai = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(d);

let stack: PcKeyAgentStack;
let app: ListeningInstance;
let tokenDir: string;
let browser: Browser;

beforeAll(async () => {
  stack = await startPcKeyAgentStack({ tokenDirPrefix: 'journey-renewal-' });
  ({ app, tokenDir, browser } = stack);
});

afterAll(async () => {
  await stack?.close();
});

async function open(kind: 'pc' | 'phone'): Promise<Page> {
  const ctx = await (kind === 'pc' ? desktopContext(browser) : phoneContext(browser));
  stack.contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (err) => { throw err; });
  return page;
}

it('When a handler follows, binds, passes liveness, pays and renews on the PC, then 实时制证成功 and 我的数字证书 shows the new validity', async () => {
  // The U-KEY the issuing desk handed out a year ago: 20 days left.
  const now = Date.now();
  const token = await createTokenWithCertificate(app.deps.ca, {
    dir: tokenDir, pin: '246802', organization: ORGANIZATION, algorithm: 'RSA-2048', notBefore: new Date(now - 345 * DAY), notAfter: new Date(now + 20 * DAY),
  });

  // 1. Follow the account in the WeChat simulator.
  const simulator = await open('pc');
  await simulator.goto(`${app.url}/dev/wechat`);
  await simulator.getByLabel('新用户昵称').fill(NICKNAME);
  await simulator.getByRole('button', { name: '新建用户' }).click();
  await simulator.waitForURL(/\/dev\/wechat\?openid=/);
  await simulator.getByLabel('关注场景值').fill('meizhou_gjj');
  await simulator.getByRole('button', { name: '关注', exact: true }).click();
  await simulator.locator('.dw-msg--account', { hasText: '欢迎关注' }).waitFor({ timeout: 10_000 });

  // 2. The binding code at /capc/ on the PC.
  const pc = await open('pc');
  await pc.goto(`${app.url}/capc/`);
  await pc.locator('.capc-cert', { hasText: ORGANIZATION }).click();
  await pc.getByLabel('证书密码（PIN 码）').fill(token.pin);
  await pc.getByRole('button', { name: '获取绑定码' }).click();
  await pc.locator('#panel-result').waitFor({ state: 'visible' });
  const code = (await pc.locator('#code span').allInnerTexts()).join('');

  // 3. Bind on the phone, as the user who followed.
  const phone = await open('phone');
  await phone.goto(`${app.url}/h5/bind`);
  await phone.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
  await phone.locator('button.sa-user', { hasText: NICKNAME }).click();
  await phone.waitForURL(/\/h5\/bind$/);
  await phone.getByLabel('绑定码').fill(code);
  await phone.getByLabel('介质编号').fill(token.mediaSerial.slice(-4));
  await phone.getByRole('button', { name: '绑定' }).click();
  await phone.getByRole('heading', { name: '绑定成功' }).waitFor();

  // 4. 续期缴费: the handler's liveness check first, then the order, then the sandbox cashier.
  await phone.goto(`${app.url}/h5/renew`);
  await phone.waitForURL(/\/h5\/handler/);
  await phone.getByRole('button', { name: '同意并继续' }).click();
  await phone.waitForURL(`${app.url}/h5/handler/form`);
  await phone.locator('#name').fill(NICKNAME);
  await passSandboxLiveness(phone, '11010519491231002X');
  await phone.locator('[data-next]').click();
  await phone.waitForURL(`${app.url}/h5/renew`);
  const box = phone.locator('input.cam-opt__check').first();
  if (!(await box.isChecked())) await box.check();
  await phone.getByRole('button', { name: '确认续期，生成订单' }).click();
  await phone.waitForURL(/\/h5\/orders\/R\w+\?created=1$/);
  await phone.locator('[data-pay=wechat]').click();
  await phone.waitForURL(/\/sandbox\/wechatpay\/cashier\?/);
  await phone.locator('#wp-confirm').click();
  await phone.waitForURL(/\/h5\/orders\/R\w+\/paid/);
  await phone.locator('[data-state="paid"]').waitFor({ timeout: 15_000 });

  // The phone now sends the handler to the PC, with the address.
  await phone.goto(`${app.url}/h5/`);
  const home = await phone.locator('body').innerText();
  expect(home).toContain('已缴费 · 请在电脑上续期');
  expect(home).toContain(`${app.url}/gdca-page/redirect?busyType=8`);
  await screenshot(phone, 'journey-renewal-home-paid-375');

  // 5. Renew on the PC at that address.
  await pc.goto(`${app.url}/gdca-page/redirect?busyType=8`);
  await pc.locator('#panel-select').waitFor({ state: 'visible' });
  await pc.locator('.capc-cert', { hasText: ORGANIZATION }).click();
  const info = await pc.locator('#info').innerText();
  expect(info).toContain('已缴费，可立即续期');
  await pc.getByLabel('证书密码（PIN 码）').fill(token.pin);
  await pc.locator('#submit').click();
  await pc.locator('#panel-done').waitFor({ state: 'visible' });
  expect(await pc.locator('#panel-done').innerText()).toContain('实时制证成功');
  await screenshot(pc, 'journey-renewal-done-1280');

  const record = (await openSoftTokenStore(tokenDir).read(token.mediaSerial))!;
  expect(record.certificates).toHaveLength(1);
  const renewed = parseCertificate(record.certificates[0].pem);
  expect(renewed.serialHex).not.toBe(token.cert.serialHex);
  expect(renewed.notAfter.getTime()).toBeGreaterThan(token.cert.notAfter.getTime() + 364 * DAY);
  expect(await pc.locator('#done-summary').innerText()).toContain(shanghai(renewed.notAfter));

  // 6. 我的数字证书 on the phone: the new certificate with its validity.
  await phone.goto(`${app.url}/h5/certs`);
  const card = phone.locator('.cam-cert', { hasText: shanghai(renewed.notAfter) });
  await card.first().waitFor();
  expect(await card.first().innerText()).toContain(`有效期 ${shanghai(renewed.notBefore)} 至 ${shanghai(renewed.notAfter)}`);
  expect(await phone.locator('.cam-cert', { hasText: shanghai(token.cert.notAfter) }).innerText()).toContain('已更新');
  expect(await horizontalOverflow(phone)).toBeLessThanOrEqual(0);
  await screenshot(phone, 'journey-renewal-certs-375');
});
