import type Koa from 'koa';
import request from 'supertest';
import { RenewalAuditEntity } from '../../src/modules/renewals/entities';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { consoleAppFor, createOperator, loginAgent, type ConsoleAgent, type TestOperator } from '../helpers/console';
import { createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { insertInstalledRenewal, insertOrder } from '../helpers/order-rows';

/**
 * 订单 and 概览 in the operator console: who may open them, the search through the page, the CSV export (escaped
 * cells, re-authentication, audit), the order's timeline, and the dashboard's figures, charts and static ECharts.
 * The clock is a test clock (step-up expiry), starting at 2026-12-03 10:00 China time.
 */
const DAY = 86_400_000;
let now = Date.parse('2026-12-03T02:00:00Z');
let handle: TestBackendHandle;
let t: TestInstance;
let app: Koa;
let support: TestOperator;
let finance: TestOperator;
let adminOnly: TestOperator;
let supportAgent: ConsoleAgent;
const HOSTILE = "=cmd|' /C calc'!A0 梅州市恶意单位";
let hostileOrder: { orderNo: string };
let paidOrder: { id: number; orderNo: string; certificateId: number };

beforeAll(async () => {
  handle = await createTestBackend();
  t = await startInstance(handle, { clock: { nowMs: () => now }, startJobs: false });
  app = consoleAppFor(t.deps);
  support = await createOperator(t.deps, { roles: ['support'] });
  finance = await createOperator(t.deps, { roles: ['finance'] });
  adminOnly = await createOperator(t.deps, { roles: ['admin'] });
  supportAgent = await loginAgent(app, t.deps, support);
  hostileOrder = await insertOrder(t.deps, { organisation: HOSTILE, uscc: '91441400MA4UHOST1X', openid: 'oHOSTILEopenid000000000001', createdAt: new Date(now - 2 * DAY) });
  paidOrder = await insertOrder(t.deps, { organisation: '梅州市控制台页面测试有限公司', uscc: '91441400MA4UPAGE2Y', openid: 'oPAGEopenid00000000000001', createdAt: new Date(now - 3 * 3_600_000), paidAt: new Date(now - 2 * 3_600_000), totalFen: 40000 });
  await insertInstalledRenewal(t.deps, paidOrder, new Date(now - 3_600_000));
  for (let i = 0; i < 25; i++) await insertOrder(t.deps, { organisation: `梅州市翻页单位${i}`, createdAt: new Date(now - 10 * DAY - i * 60_000) });
});
afterAll(async () => {
  await t?.close();
  await handle?.drop();
});

describe('who may open 订单 and 概览', () => {
  test('When nobody is logged in, then every orders page and the dashboard redirect to the login and show no order', async () => {
    for (const path of ['/', '/orders', `/orders?q=${paidOrder.orderNo}`, `/orders/${paidOrder.orderNo}`, '/orders/export.csv']) {
      const res = await request(app.callback()).get(path);
      expect(res.status).toBe(302);
      expect(res.headers.location).toMatch(/^\/login\?next=/);
      expect(res.text).not.toContain('梅州市控制台页面测试有限公司');
      expect(res.text).not.toContain('oPAGEopenid');
    }
  });

  test('When an operator holding only 管理员 opens the orders pages, then they get 403; the dashboard opens without the order links', async () => {
    const agent = await loginAgent(app, t.deps, adminOnly);
    for (const path of ['/orders', `/orders/${paidOrder.orderNo}`, '/orders/export.csv']) {
      const res = await agent.get(path);
      expect(res.status).toBe(403);
      expect(res.text).not.toContain(paidOrder.orderNo);
    }
    const home = await agent.get('/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('今日订单');
    expect(home.text).not.toContain('href="/orders');
  });

  test('When 财务 opens the orders list, then it is shown (订单 is for 财务 and 客服)', async () => {
    const agent = await loginAgent(app, t.deps, finance);
    expect((await agent.get('/orders')).status).toBe(200);
  });
});

describe('the orders page', () => {
  test('When 客服 searches by order number, USCC, openid and organisation prefix, then the order is listed each time', async () => {
    for (const q of [paidOrder.orderNo, '91441400MA4UPAGE2Y', 'oPAGEopenid00000000000001', '梅州市控制台页面']) {
      const res = await supportAgent.get('/orders').query({ q });
      expect(res.status).toBe(200);
      expect(res.text).toContain(`href="/orders/${paidOrder.orderNo}"`);
      expect(res.text).not.toContain(`href="/orders/${hostileOrder.orderNo}"`);
    }
  });

  test('When the list has more than a page, then 下一页 leads to the next 20 without repeating any', async () => {
    const first = await supportAgent.get('/orders').query({ q: '梅州市翻页单位' });
    const numbers = (html: string) => [...html.matchAll(/href="\/orders\/(R\w+)"/g)].map((m) => m[1]);
    const next = /href="([^"]+)" rel="next"/.exec(first.text)![1]!.replace(/&amp;/g, '&');
    const second = await supportAgent.get(next);
    expect(numbers(first.text)).toHaveLength(20);
    expect(numbers(second.text)).toHaveLength(5);
    expect(new Set([...numbers(first.text), ...numbers(second.text)]).size).toBe(25);
    expect(second.text).not.toContain('rel="next"');
  });

  test('When an order is opened, then its detail shows the organisation and the timeline from creation to the renewal', async () => {
    const res = await supportAgent.get(`/orders/${paidOrder.orderNo.toLowerCase()}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('梅州市控制台页面测试有限公司');
    const titles = [...res.text.matchAll(/<strong>([^<]+)<\/strong>/g)].map((m) => m[1]);
    expect(titles).toEqual(expect.arrayContaining(['创建订单', '已支付']));
    expect(titles.indexOf('创建订单')).toBeLessThan(titles.indexOf('已支付'));
    expect((await supportAgent.get('/orders/R20260101XXXXXXXXXXXXXXXX')).status).toBe(404);
  });

  test('When the export holds an organisation named like a formula, then its cell is escaped, the file is audited, and after 5 minutes a re-authentication is asked first', async () => {
    const res = await supportAgent.get('/orders/export.csv').query({ q: '91441400MA4UHOST1X' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/csv/);
    const csv = res.text;
    expect(csv).toContain(hostileOrder.orderNo);
    expect(csv).not.toMatch(/(^|,)"?=cmd/m);
    expect(csv).toMatch(/(^|,)"?'=cmd/m);
    const audit = await t.deps.db.manager.find(RenewalAuditEntity, { where: { step: 'console.export' } });
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ operator: { username: support.username }, subject: 'orders', rows: 1 });

    now += 6 * 60_000;
    const later = await supportAgent.get('/orders/export.csv').query({ q: '91441400MA4UHOST1X' });
    expect(later.status).toBe(302);
    expect(later.headers.location).toMatch(/^\/step-up\?next=/);
    expect(await t.deps.db.manager.count(RenewalAuditEntity, { where: { step: 'console.export' } })).toBe(1);
  });
});

describe('the dashboard', () => {
  test('When orders were placed and paid today, a transfer line failed and a renewal finished, then the cards and charts say so', async () => {
    await t.deps.db.manager.insert(StatementEntryEntity, { bankSerial: 'DASH1', lineDate: '2026-12-03', payerName: 'x', payerAccount: '1', payerBank: 'b', amountFen: 1, remark: 'r', decision: 'exception', reason: 'r', orderNo: null, source: 's', importedAt: new Date(now) });
    await t.deps.store.del('console:dashboard:v1');
    const res = await supportAgent.get('/');
    expect(res.status).toBe(200);
    const card = (title: string) => new RegExp(`${title}</span>\\s*<span class="cc-stat-value">([^<]+)<`).exec(res.text)?.[1];
    expect(card('今日订单')).toBe('1');
    expect(card('今日收款')).toBe('400.00');
    expect(card('汇款异常')).toBe('1');
    expect(res.text).toContain('href="/orders?from=2026-12-03&amp;to=2026-12-03"');
    const data = JSON.parse(/<script type="application\/json" id="dashboard-data">([^<]+)<\/script>/.exec(res.text)![1]!);
    expect(data.renewals.counts.at(-1)).toBe(1);
    expect(data.revenue.yuan.at(-1)).toBe(400);
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(res.headers['content-security-policy']).not.toMatch(/https?:/);
  });

  test('When the page asks for ECharts, then the console serves it from the installed package as JavaScript', async () => {
    const home = await supportAgent.get('/');
    const src = /<script src="(\/static\/console-dashboard\/echarts\.min\.js\?v=\w+)"/.exec(home.text)![1]!;
    const js = await request(app.callback()).get(src);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.text.length).toBeGreaterThan(500_000);
    expect(js.headers['cache-control']).toMatch(/immutable/);
  });
});
