import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Browser } from 'playwright-core';
import { desktopContext, horizontalOverflow, launchChromium, screenshot } from '../helpers/browser';
import { consoleAppFor, createOperator, freshTotp } from '../helpers/console';
import { createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { insertInstalledRenewal, insertOrder } from '../helpers/order-rows';

/**
 * The console in Chromium at 1280 px: a 客服 logs in with password + TOTP, the dashboard draws its two ECharts
 * charts (served by the console itself, under its CSP), then the operator searches an order by organisation prefix
 * and opens its timeline. Screenshots: test-results/console-{dashboard,orders,order}-1280.png.
 */
jest.setTimeout(90_000);
const DAY = 86_400_000;
let handle: TestBackendHandle;
let t: TestInstance;
let server: Server;
let base: string;
let browser: Browser;
const errors: string[] = [];

beforeAll(async () => {
  handle = await createTestBackend();
  t = await startInstance(handle, { startJobs: false });
  server = createServer(consoleAppFor(t.deps).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const now = Date.now();
  // Thirty days of renewals and twelve weeks of payments, so both charts have bars and a line to draw.
  for (let d = 0; d < 84; d += 2) {
    const order = await insertOrder(t.deps, { organisation: `梅州市图表单位${d}有限公司`, createdAt: new Date(now - d * DAY - 3_600_000), paidAt: new Date(now - d * DAY - 3_000_000), totalFen: 20000 * (1 + (d % 3)), state: d < 30 ? 'FULFILLED' : 'PAID' });
    if (d < 30) await insertInstalledRenewal(t.deps, order, new Date(now - d * DAY - 1_000_000));
  }
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.close();
  await handle?.drop();
});

test('When a 客服 logs in with TOTP, then the dashboard draws its charts, and an order found by its organisation shows its timeline', async () => {
  const op = await createOperator(t.deps, { roles: ['support'], displayName: '客服小梅' });
  const target = await insertOrder(t.deps, { organisation: '梅州市浏览器测试建筑有限公司', uscc: '91441400MA4UE2E01X', createdAt: new Date(Date.now() - 3 * DAY), paidAt: new Date(Date.now() - 3 * DAY + 60_000) });
  const context = await desktopContext(browser);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${base}/`);
  await page.waitForURL(/\/login/);
  await page.locator('#username').fill(op.username);
  await page.locator('#password').fill(op.password);
  await page.locator('#code').fill(await freshTotp(t.deps, op));
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(`${base}/`);

  await page.locator('#chart-renewals[data-rendered="true"]').waitFor();
  await page.locator('#chart-revenue[data-rendered="true"]').waitFor();
  // Drawn, not just present: count the canvas pixels that are not blank.
  const painted = await page.evaluate(() => ['chart-renewals', 'chart-revenue'].map((id) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`#${id} canvas`);
    if (!canvas) return -1;
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) n++;
    return n;
  }));
  expect(painted[0]).toBeGreaterThan(2000);
  expect(painted[1]).toBeGreaterThan(2000);
  expect(await page.locator('.cc-stat', { hasText: '今日订单' }).locator('.cc-stat-value').innerText()).toMatch(/^\d+$/);
  expect(await horizontalOverflow(page)).toBe(0);
  await screenshot(page, 'console-dashboard-1280');

  await page.getByRole('link', { name: '订单', exact: true }).click();
  await page.locator('#q').fill('梅州市浏览器测试');
  await page.getByRole('button', { name: '查找' }).click();
  await page.locator(`#order-list a[href="/orders/${target.orderNo}"]`).waitFor();
  expect(await horizontalOverflow(page)).toBe(0);
  await screenshot(page, 'console-orders-1280');
  await page.locator(`#order-list a[href="/orders/${target.orderNo}"]`).click();
  await page.waitForURL(`${base}/orders/${target.orderNo}`);
  const timeline = await page.locator('#timeline').innerText();
  expect(timeline).toContain('创建订单');
  expect(timeline).toContain('已支付');
  expect(await page.locator('body').innerText()).toContain('91441400MA4UE2E01X');
  expect(await horizontalOverflow(page)).toBe(0);
  await screenshot(page, 'console-order-1280');
  expect(errors).toEqual([]);
  await context.close();
});
