import { type Page } from 'playwright-core';
import { inTransaction } from '../../src/lib/db/transaction';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { HandlerRepository } from '../../src/modules/handlers/repository';
import { OrderService } from '../../src/modules/orders/service';
import { TransferService } from '../../src/modules/transfers/service';
import { horizontalOverflow, passSandboxLiveness, screenshot } from '../helpers/browser';
import { boundCertificate } from '../helpers/pki-fixtures';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * What the walkthrough found on the pages (issue 9 §5), in Chromium at 375 px in sandbox mode: /capc/ on a phone,
 * the home's tiles, addresses and footer tap targets, the consent links, a rejected 对公汇款 order, and the sandbox
 * cashier after the order was paid.
 */
jest.setTimeout(90_000);
const DAY = 86_400_000;
const OPENID = 'oE2EWalkthrough';
const ORG = '梅州市走查测试有限公司';

const e2e = usePhoneApp();

beforeAll(async () => {
  e2e.app.deps.sandboxWechat!.ensureUser(OPENID, '走查经办');
  const now = Date.now();
  await boundCertificate(e2e.app.deps, OPENID, { organization: ORG, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 20 * DAY), at: new Date(now), sandbox: true });
  await inTransaction(e2e.app.deps.db, (em) => new HandlerRepository().upsertVerified(em, {
    openid: OPENID, nameSealed: 'sealed', nameMasked: '走*', idNumberSealed: 'sealed', idNumberIndex: 'idx-e2e-walkthrough', idNumberMasked: '4414**********0022',
    method: 'liveness', attemptId: 1, verifiedAt: new Date(now), purgeAfter: new Date(now + 5 * 365 * DAY), sandbox: true,
  }, new Date(now)));
});

async function fits(page: Page) {
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
}

/** Every footer link on the page is a tap target at least 44 px high. */
async function footerLinksTall(page: Page) {
  const links = page.locator('.weui-footer__link');
  expect(await links.count()).toBeGreaterThan(0);
  for (const box of await Promise.all((await links.all()).map((l) => l.boundingBox()))) expect(box!.height).toBeGreaterThanOrEqual(44);
}

describe('/capc/ opened on a phone', () => {
  it('When a phone opens /capc/ at 375 px, then nothing scrolls sideways and the page says to open it on a PC; a desktop does not see that notice', async () => {
    const page = await e2e.phone();
    await page.goto(`${e2e.app.url}/capc/`);
    await page.locator('#panel-no-agent').waitFor();
    const notice = page.locator('[data-phone-notice]');
    expect(await notice.isVisible()).toBe(true);
    expect(await notice.innerText()).toContain('请在电脑上打开');
    expect(await notice.innerText()).toContain(`${e2e.app.url}/capc/`);
    await fits(page);
    await screenshot(page, 'capc-phone-375');

    const desktop = await e2e.desktop();
    await desktop.goto(`${e2e.app.url}/capc/`);
    await desktop.locator('#panel-no-agent').waitFor();
    expect(await desktop.locator('[data-phone-notice]').isVisible()).toBe(false);
  });
});

describe('the H5 home and its neighbours at 375 px', () => {
  it('When the handler opens the home, then a 我的订单 tile leads to the orders, 办理流程 shows the binding and renewal addresses with copy buttons', async () => {
    const page = await e2e.loggedInPhone('/h5/', { user: '走查经办' });
    const tile = page.locator('.cam-tile', { hasText: '我的订单' });
    expect(await tile.isVisible()).toBe(true);
    const box = (await tile.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(375);
    const address = page.locator('[data-step-address]').first();
    expect(await address.innerText()).toContain(`${e2e.app.url}/capc/`);
    expect(await address.locator('[data-copy]').getAttribute('data-copy')).toBe(`${e2e.app.url}/capc/`);
    await address.locator('[data-copy]').click();
    await page.locator('#cam-copy-done').waitFor({ state: 'visible' });
    expect(await page.locator('.cam-steps').innerText()).toContain(`${e2e.app.url}/gdca-page/redirect?busyType=8`);
    await fits(page);
    await screenshot(page, 'h5-home-walkthrough-375');

    await tile.click();
    await page.waitForURL(`${e2e.app.url}/h5/orders`);
    await footerLinksTall(page);
  });

  it('When the consent text is shown, then its links look like WeUI links and the footer links are 44 px tap targets', async () => {
    // A new (unverified) handler reads the consent text.
    const fresh = await e2e.loggedInPhone('/h5/handler');
    const link = fresh.locator('[data-consent] [data-documents-link]');
    const colour = await link.evaluate((a) => getComputedStyle(a).color);
    const weuiLink = await fresh.evaluate(() => {
      const probe = document.createElement('a');
      probe.className = 'weui-link';
      document.body.appendChild(probe);
      return getComputedStyle(probe).color;
    });
    expect(colour).toBe(weuiLink);
    expect(await link.evaluate((a) => getComputedStyle(a).textDecorationLine)).toBe('none');
    await footerLinksTall(fresh);
    await fits(fresh);
    await screenshot(fresh, 'handler-consent-375');
  });
});

describe('a 对公汇款 order that was turned down, then paid by WeChat Pay', () => {
  it('When the transfer was turned down, then the order page explains it at 375 px; after 改用微信支付 the used cashier offers a way back to the order', async () => {
    const deps = e2e.app.deps;
    const cert = await deps.db.getRepository(CertificateEntity).findOneByOrFail({ organization: ORG });
    const order = await new OrderService(deps).createOrder({ openid: OPENID, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
    const { code } = await new TransferService(deps).codeFor(order.orderNo, OPENID, new Date());
    await new TransferService(deps).importLines([{
      line: 2, date: '2026-12-01', payerName: ORG, payerAccount: '4400100', payerBank: '建设银行', amount: '150.00', remark: code, bankSerial: `E2E-${Date.now()}`,
    }], 'e2e.csv', new Date());

    const page = await e2e.loggedInPhone(`/h5/orders/${order.orderNo}`, { user: '走查经办' });
    const rejected = page.locator('[data-transfer-rejected]');
    expect(await rejected.innerText()).toContain('汇款金额与订单金额不符');
    expect(await rejected.innerText()).toContain('下一步');
    expect(await page.locator('[data-payee] [data-remark]').innerText()).toBe(code);
    expect(await page.getByText('选择后付款期限延长至 7 天').count()).toBe(0);
    await page.getByRole('button', { name: '复制收款账号' }).click();
    await page.locator('#cam-copy-done').waitFor({ state: 'visible' });
    await fits(page);
    await footerLinksTall(page);
    await screenshot(page, 'order-transfer-rejected-375');

    await page.locator('[data-pay=wechat]').click();
    await page.waitForURL(/\/sandbox\/wechatpay\/cashier\?/);
    const cashier = page.url();
    await page.locator('#wp-confirm').click();
    await page.waitForURL(/\/paid\?wechatpay=ok$/);
    await page.locator('[data-state=paid]').waitFor();
    expect(await page.locator('[data-next-step]').innerText()).toContain('/gdca-page/redirect?busyType=8');
    await fits(page);
    await screenshot(page, 'paid-375');

    // Back to the cashier (the browser's back button, a stale tab): 无法支付, and a way out to the order.
    await page.goto(cashier);
    expect(await page.locator('#wp-error').innerText()).toContain('该订单已支付');
    await fits(page);
    await screenshot(page, 'cashier-already-paid-375');
    await page.locator('#wp-back').click();
    await page.waitForURL(new RegExp(`/h5/orders/${order.orderNo}/paid`));
    await page.locator('[data-state=paid]').waitFor();
  });
});

describe('the liveness link of an earlier failed attempt', () => {
  it('When the handler opens the failed attempt\'s page again after passing, then it shows 已认证 (the current state) at 375 px', async () => {
    const page = await e2e.loggedInPhone('/h5/handler');
    await page.getByRole('button', { name: '同意并继续' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('张三');
    await page.locator('#idNumber').fill('11010519491231002X');
    await page.getByRole('button', { name: '开始人脸核验' }).click();
    await page.waitForURL(/\/sandbox\/faceid\/h5\//);
    await page.locator('#fi-start').click();
    await page.locator('#fi-fail').click();
    await page.locator('#fi-done').click();
    await page.waitForURL(/\/h5\/handler\/callback\?ref=/);
    const failedAttempt = page.url();
    expect(await page.locator('.weui-msg__title').innerText()).toBe('认证未通过');

    await page.locator('[data-retry]').click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('张三');
    await passSandboxLiveness(page, '11010519491231002X');
    await page.locator('[data-masked-id]').waitFor();

    await page.goto(failedAttempt);
    expect(await page.locator('.weui-msg__title').innerText()).toBe('已认证');
    expect(await page.locator('[data-stale-attempt]').isVisible()).toBe(true);
    await fits(page);
    await screenshot(page, 'handler-stale-attempt-375');
  });
});

describe('other pages whose wording changed', () => {
  it('When the bind page and the simulator are opened at 375 px, then they fit and use 证书密码 and show the unionid', async () => {
    const page = await e2e.loggedInPhone('/h5/bind', { user: '走查经办' });
    expect(await page.locator('main').innerText()).toContain('证书密码（PIN 码）');
    await fits(page);
    await screenshot(page, 'bind-375');
    await page.goto(`${e2e.app.url}/dev/wechat`);
    await page.locator('#dw-new-user').click();
    await page.locator('[data-unionid]').waitFor();
    await screenshot(page, 'dev-wechat-375');
  });
});
