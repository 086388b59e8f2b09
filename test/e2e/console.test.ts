import { type Browser, type Page } from 'playwright-core';
import { createOperator, freshTotp, startConsoleListening, type TestOperator } from '../helpers/console';
import { desktopContext, launchChromium, screenshot } from '../helpers/browser';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';

/** The console in Chromium at 1280 px: TOTP login, the layout, a role grant proposed by one 管理员 and approved by another. */
let handle: TestBackendHandle;
let app: ListeningInstance;
let consoleServer: { url: string; close(): Promise<void> };
let browser: Browser;
const violations: string[] = [];

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  consoleServer = await startConsoleListening(app.deps);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await consoleServer?.close();
  await app?.close();
  await handle?.drop();
});

async function login(op: TestOperator, shot?: string): Promise<Page> {
  const context = await desktopContext(browser);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') violations.push(m.text()); });
  await page.goto(`${consoleServer.url}/operators`);
  expect(new URL(page.url()).pathname).toBe('/login');
  if (shot) await screenshot(page, shot);
  await page.fill('#username', op.username);
  await page.fill('#password', op.password);
  await page.fill('#code', await freshTotp(app.deps, op));
  await page.click('button[type=submit]');
  await page.waitForURL(`${consoleServer.url}/operators`);
  return page;
}

it('When two 管理员 log in with TOTP, then one proposes a role grant and only the other can approve it', async () => {
  const alice = await createOperator(app.deps, { roles: ['admin'], displayName: '李管理' });
  const bob = await createOperator(app.deps, { roles: ['admin'], displayName: '王审批' });
  const clerk = await createOperator(app.deps, { roles: ['support'], displayName: '张客服' });

  const a = await login(alice, 'console-login');
  await screenshot(a, 'console-operators');
  const row = a.locator('tr', { hasText: clerk.username });
  await row.locator('summary').click();
  await screenshot(a, 'console-operators-manage');
  await row.locator('input[name=role_finance]').check();
  await row.locator('input[name=reason]').fill('兼任财务对账');
  await row.locator('button', { hasText: '提交角色变更审批' }).click();
  await a.waitForURL(/\/approvals\/\d+$/);
  const proposalUrl = a.url();
  expect(await a.textContent('main')).toContain('须由另一位管理员批准');
  expect(await a.locator('text=批准并执行').count()).toBe(0);

  const b = await login(bob);
  await b.goto(`${consoleServer.url}/approvals`);
  await screenshot(b, 'console-approvals');
  await b.goto(proposalUrl);
  await screenshot(b, 'console-approval-detail');
  await b.click('text=批准并执行');
  await b.waitForURL(proposalUrl);
  expect(await b.textContent('main')).toContain('已执行');
  await screenshot(b, 'console-approval-executed');
  expect(violations).toEqual([]);
});
