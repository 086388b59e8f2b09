import { copyFileSync } from 'node:fs';
import { type Page } from 'playwright-core';
import { OrderEntity } from '../../src/modules/orders/entities';
import { OrderService } from '../../src/modules/orders/service';
import { RefundEntity } from '../../src/modules/refunds/entities';
import { PaymentService } from '../../src/modules/payments/service';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { TransferService } from '../../src/modules/transfers/service';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { createOperator, freshTotp, startConsoleListening, type TestOperator } from '../helpers/console';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { until } from '../helpers/until';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The 财务 day in the console, in Chromium at 1280 px: two 财务 log in with password + TOTP; A imports a bank
 * statement, sees its report, proposes to match an exception by hand; B approves it and the order shows 已支付;
 * A proposes a WeChat Pay refund, B approves it and the sandbox WeChat Pay refunds it. Every page is screenshotted.
 */
jest.setTimeout(150_000);
const DAY = 86_400_000;
const e2e = usePhoneApp();
let consoleServer: { url: string; close(): Promise<void> } | undefined;
let consoleUrl: string;
let seq = 0;
/** Errors the pages log (a CSP refusal of the pages' nonce'd styles would show here). */
const pageErrors: string[] = [];

beforeAll(async () => {
  consoleServer = await startConsoleListening(e2e.app.deps);
  consoleUrl = consoleServer.url;
});
afterAll(async () => {
  await consoleServer?.close();
});

async function pendingOrder(openid: string) {
  const deps = e2e.app.deps;
  const now = Date.now();
  const organization = `梅州市财务旅程单位${++seq}`;
  const cert = await boundCertificate(deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true, at: new Date(now) });
  await verifyHandler(deps, openid);
  const order = await new OrderService(deps).createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  return { orderNo: order.orderNo, totalFen: order.totalFen, organization };
}

async function shot(page: Page, name: string): Promise<void> {
  copyFileSync(await screenshot(page, `console-finance-${name}`), `/tmp/console-finance-${name}.png`);
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
}

async function logIn(op: TestOperator): Promise<Page> {
  const page = await e2e.desktop();
  page.on('pageerror', (err) => { throw err; });
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${page.url()}: ${m.text()}`); });
  await page.goto(`${consoleUrl}/statements`);
  await page.getByLabel('用户名').fill(op.username);
  await page.getByLabel('密码').fill(op.password);
  await page.getByLabel('动态验证码').fill(await freshTotp(e2e.app.deps, op));
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(`${consoleUrl}/statements`);
  return page;
}

it('When two 财务 import a statement, match an exception by hand and refund an order, then each needs the other and the order is paid, then refunded at WeChat Pay', async () => {
  const deps = e2e.app.deps;
  const a = await createOperator(deps, { username: 'finance.li', roles: ['finance'] });
  const b = await createOperator(deps, { username: 'finance.wang', roles: ['finance'] });
  const exact = await pendingOrder('oE2EFinanceExact');
  const byHand = await pendingOrder('oE2EFinanceByHand');
  const transfers = new TransferService(deps);
  const exactCode = (await transfers.codeFor(exact.orderNo, 'oE2EFinanceExact', new Date())).code;
  const byHandCode = (await transfers.codeFor(byHand.orderNo, 'oE2EFinanceByHand', new Date())).code;
  const serial = `E2E${Date.now()}`;
  const yuan = (fen: number) => (fen / 100).toFixed(2);
  const csv = ['交易日期,付款人名称,付款账号,付款行,金额,附言,流水号',
    `2026-12-01,${exact.organization},44001234567890123,中国建设银行梅州分行,${yuan(exact.totalFen)},${exactCode},${serial}-1`,
    `2026-12-01,${byHand.organization},44009876543210987,中国工商银行梅州分行,${yuan(byHand.totalFen)},续期 ${byHandCode},${serial}-2`].join('\n');

  // A imports the statement: one line credited, one exception.
  const pageA = await logIn(a);
  await shot(pageA, 'statements-empty');
  await pageA.locator('input[type=file][name=file]').setInputFiles({ name: '建行收款明细.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await pageA.getByRole('button', { name: '导入' }).click();
  await pageA.waitForURL(/\/statements\/\d+$/);
  expect(await pageA.locator('#import-totals').innerText()).toContain('入账 1 笔，异常 1 笔');
  expect(await pageA.locator('#import-report').innerText()).toContain(`入账 ${exact.orderNo}`);
  await shot(pageA, 'statement-report');

  // A proposes the exception's manual credit.
  await pageA.goto(`${consoleUrl}/exceptions`);
  await shot(pageA, 'exceptions');
  const line = await deps.db.getRepository(StatementEntryEntity).findOneByOrFail({ bankSerial: `${serial}-2` });
  await pageA.locator(`a[href="/exceptions/${line.id}"]`).click();
  await pageA.getByLabel('订单号').fill(byHand.orderNo);
  await pageA.locator('#credit-form').getByLabel('理由').fill('附言前多写了“续期”，电话核实为该单位的续期款');
  await shot(pageA, 'exception-detail');
  await pageA.getByRole('button', { name: '提交人工入账申请' }).click();
  await pageA.waitForURL(/\/approvals\/\d+$/);
  const creditProposal = pageA.url().replace(consoleUrl, '');
  expect(await pageA.locator('h1').innerText()).toContain('待批准');

  // B approves it: the order is paid.
  const pageB = await logIn(b);
  await pageB.goto(`${consoleUrl}${creditProposal}`);
  await pageB.getByRole('button', { name: '批准并执行' }).click();
  await pageB.locator('.cc-badge', { hasText: '已执行' }).first().waitFor();
  await pageB.goto(`${consoleUrl}/exceptions/${line.id}`);
  expect(await pageB.locator('#exception-state').innerText()).toContain('已人工入账');
  expect(await pageB.locator('#order-state').innerText()).toContain('已支付');
  await shot(pageB, 'exception-credited');

  // A proposes a WeChat Pay refund of a paid order; B approves; the sandbox WeChat Pay refunds it.
  const paid = await pendingOrder('oE2EFinanceRefund');
  const params = await new PaymentService(deps).jsapiParams(paid.orderNo, 'oE2EFinanceRefund');
  const confirmed = deps.sandboxWechatPay!.confirmPayment(params.package.replace('prepay_id=', ''));
  if ('error' in confirmed) throw new Error(confirmed.error);
  await confirmed.delivery;
  await until(() => new OrderService(deps).getOrder(paid.orderNo), (o) => o?.state === 'PAID');
  await pageA.goto(`${consoleUrl}/refunds`);
  await pageA.locator('#refund-propose').getByLabel('订单号').fill(paid.orderNo);
  await pageA.getByLabel('退款金额（元，全额）').fill(yuan(paid.totalFen));
  await pageA.getByLabel('退款原因').fill('用户申请退款，证书不再续期');
  await pageA.getByRole('button', { name: '提交退款申请' }).click();
  await pageA.waitForURL(/\/approvals\/\d+$/);
  const refundProposal = pageA.url().replace(consoleUrl, '');
  await pageB.goto(`${consoleUrl}${refundProposal}`);
  await pageB.getByRole('button', { name: '批准并执行' }).click();
  await pageB.locator('.cc-badge', { hasText: '已执行' }).first().waitFor();
  expect([...deps.sandboxWechatPay!.refunds.values()].filter((r) => r.outTradeNo === paid.orderNo)).toHaveLength(1);
  await pageA.goto(`${consoleUrl}/refunds`);
  expect(await pageA.locator('#refund-list').innerText()).toContain(`RO${paid.orderNo}`);
  await shot(pageA, 'refunds');

  // The bill page, after a re-run of yesterday. WeChat Pay took no money that day, but our records (edited by
  // hand, as a bug could) hold a WeChat Pay payment and an accepted refund of that day: both are findings.
  const yesterday = new Date(Date.now() - DAY);
  const ghost = await pendingOrder('oE2EFinanceGhost');
  await deps.db.getRepository(OrderEntity).update({ orderNo: ghost.orderNo }, { state: 'PAID', paymentMethod: 'wechatpay', paidAt: yesterday, paidAmountFen: ghost.totalFen, transactionId: '4200007777777777777777777777' });
  await deps.db.getRepository(RefundEntity).insert({
    orderNo: ghost.orderNo, outTradeNo: ghost.orderNo, outRefundNo: `RO${ghost.orderNo}`, transactionId: '4200007777777777777777777777', kind: 'order', amountFen: ghost.totalFen, totalFen: ghost.totalFen,
    reason: '本地多出的退款', state: 'PROCESSING', refundId: null, attempts: 1, lastError: null, createdAt: yesterday, updatedAt: yesterday, settledAt: null, resolvedAt: null, resolvedBy: null,
  });
  await pageA.goto(`${consoleUrl}/bills`);
  await pageA.getByRole('button', { name: '下载账单并核对' }).click();
  await pageA.waitForURL(/\/bills\/\d{4}-\d{2}-\d{2}$/);
  const findings = await pageA.locator('#bill-findings').innerText();
  expect(findings).toContain('本地已收款，账单中没有');
  expect(findings).toContain('本地有退款，账单中没有');
  await shot(pageA, 'bill-day');
  await pageA.goto(`${consoleUrl}/bills`);
  await shot(pageA, 'bills');
  expect(pageErrors).toEqual([]);
});
