import { type BrowserContext, type Page } from 'playwright-core';
import { passSandboxLiveness } from '../helpers/browser';
import { tinyPng } from '../helpers/images';
import { boundCertificate } from '../helpers/pki-fixtures';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The pages under their Content-Security-Policy in Chromium: every page of the journeys (sandbox mode) is walked
 * while the browser reports each policy violation (the `securitypolicyviolation` event and Chromium's own
 * "Refused to …" console errors); none may be reported. A script, style, image, fetch or form the policy refuses
 * fails silently for the user, so a page that "looks fine" in another test can still be broken here.
 */
jest.setTimeout(120_000);
const DAY = 86_400_000;
const OPENID = 'oE2ECspHandler';

const e2e = usePhoneApp();

beforeAll(async () => {
  e2e.app.deps.sandboxWechat!.ensureUser(OPENID, '孔经办');
  const now = Date.now();
  await boundCertificate(e2e.app.deps, OPENID, { organization: '梅州市内容安全策略有限公司', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 20 * DAY), sandbox: true });
});

/** Collects the policy violations every page of `context` reports, with the page they happened on. */
async function watchViolations(context: BrowserContext): Promise<string[]> {
  const violations: string[] = [];
  // Injected by the browser driver, outside the page's policy: it runs before any of the page's own scripts.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  context.on('console', (message) => {
    const text = message.text();
    if (/CSP violation|Content Security Policy|Refused to/i.test(text)) violations.push(`${message.page()?.url()}: ${text}`);
  });
  return violations;
}

async function visit(page: Page, path: string): Promise<void> {
  const res = await page.goto(`${e2e.app.url}${path}`);
  expect({ path, status: res?.status() }).toEqual({ path, status: 200 });
}

describe('Pages under their Content-Security-Policy (Chromium)', () => {
  it('When something the policy refuses is put into a page, then the watcher reports it (the check below can fail)', async () => {
    const context = await e2e.phoneContext();
    const violations = await watchViolations(context);
    const page = await context.newPage();
    await visit(page, '/');
    const reported = (directive: string) => page.waitForEvent('console', (m) => m.text().includes(`CSP violation: ${directive}`));
    const both = Promise.all([reported('img-src'), reported('style-src-elem')]);
    await page.evaluate(() => {
      const img = document.createElement('img');
      img.src = 'https://example.invalid/pixel.png';
      document.body.appendChild(img);
      const style = document.createElement('style');
      style.textContent = 'body { color: red }';
      document.head.appendChild(style);
    });
    await both;
    expect(violations.join('\n')).toMatch(/img-src/);
    expect(violations.join('\n')).toMatch(/style-src-elem/);
  });

  it('When a handler walks sign-in, liveness, 续期缴费, both ways to pay and the sandbox cashier, then no page reports a violation', async () => {
    const context = await e2e.phoneContext();
    const violations = await watchViolations(context);
    const page = await context.newPage();

    // Sign-in through the sandbox OAuth page, then the H5 pages.
    await page.goto(`${e2e.app.url}/h5/`);
    await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
    await page.locator('button.sa-user', { hasText: '孔经办' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/`);
    for (const path of ['/h5/bind', '/h5/certs', '/h5/orders']) await visit(page, path);

    // The documents form previews a chosen photo from a blob: URL.
    await visit(page, '/h5/handler/documents');
    await page.locator('#file-id-front').setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: tinyPng(320, 200, [96, 160, 220]) });
    await page.locator('[data-preview].cam-doc_chosen').first().waitFor();

    // 续期缴费 sends the unverified handler through the liveness check (consent, form, sandbox FaceID, callback).
    await visit(page, '/h5/renew');
    await page.waitForURL(/\/h5\/handler/);
    await page.getByRole('button', { name: '同意并继续' }).click();
    await page.waitForURL(`${e2e.app.url}/h5/handler/form`);
    await page.locator('#name').fill('孔经办');
    await passSandboxLiveness(page, '11010519491231002X');
    await page.locator('[data-next]').click();
    await page.waitForURL(`${e2e.app.url}/h5/renew`);

    // The order (its preview script runs on 续期缴费), its page, the transfer page, then WeChat Pay.
    const box = page.locator('input.cam-opt__check').first();
    if (!(await box.isChecked())) await box.check();
    await page.locator('#preview-total').waitFor();
    await page.getByRole('button', { name: '确认续期，生成订单' }).click();
    await page.waitForURL(/\/h5\/orders\/R\w+\?created=1$/);
    const orderNo = /\/h5\/orders\/(R\w+)/.exec(page.url())![1];
    await page.locator('[data-pay=transfer]').click();
    await page.waitForURL(new RegExp(`/h5/orders/${orderNo}/transfer`));
    await page.locator('#copy-code').click();
    await page.locator('#cam-copy-done').waitFor();
    await visit(page, `/h5/orders/${orderNo}`);
    await page.locator('[data-pay=wechat]').click();
    await page.waitForURL(/\/sandbox\/wechatpay\/cashier\?/);
    await page.locator('#wp-confirm').click();
    await page.waitForURL(new RegExp(`/h5/orders/${orderNo}/paid`));
    await page.locator('[data-state="paid"]').waitFor({ timeout: 15_000 });
    await visit(page, '/h5/');

    expect(violations).toEqual([]);
  });

  it('When /capc/ (looking for the key agent) and the WeChat simulator are opened on a PC, then neither reports a violation', async () => {
    const page = await e2e.desktop();
    const violations = await watchViolations(page.context());
    await visit(page, '/capc/');
    // The page has looked for the agent (none runs here) and says so: its fetch to the agent was allowed.
    await page.locator('#panel-no-agent').waitFor({ state: 'visible' });
    await visit(page, '/dev/wechat');
    // Picking a test user submits at once (the handler moved from onchange= into the page's nonce'd script).
    await page.locator('select[data-autosubmit]').selectOption(OPENID);
    await page.waitForURL(new RegExp(`/dev/wechat\\?openid=${OPENID}`));
    await visit(page, '/dev/wechat/api-calls');
    expect(violations).toEqual([]);
  });
});
