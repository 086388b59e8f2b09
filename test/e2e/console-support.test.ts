import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type BrowserContext, type Page } from 'playwright-core';
import { createConsoleApp } from '../../src/modules/console/app';
import { HandlerDocumentService } from '../../src/modules/handler-documents/service';
import { HandlerAuthorisationEntity } from '../../src/modules/handler-authorisation/entities';
import { CertificateRepository } from '../../src/modules/certificates/repository';
import { InvoiceRepository } from '../../src/modules/invoices/repository';
import { InvoiceService } from '../../src/modules/invoices/service';
import { RedisJobQueue } from '../../src/lib/jobs/redis';
import { type Deps } from '../../src/deps';
import { horizontalOverflow, screenshot } from '../helpers/browser';
import { createOperator, freshTotp, type TestOperator } from '../helpers/console';
import { idNumberFor } from '../helpers/handlers';
import { REDIS_URL } from '../helpers/harness';
import { tinyPng } from '../helpers/images';
import { paidOrder } from '../helpers/paid-orders';
import { until } from '../helpers/until';
import { usePhoneApp } from '../helpers/use-phone-app';

/**
 * The support and admin sections of the console in Chromium at 1280 px: a 客服 logs in with TOTP and proposes a
 * red-letter invoice, a second 客服 approves it and the invoice is reversed; every page of the sections is opened
 * (and photographed) with no CSP violation and no horizontal scrolling; the read-only BullMQ board loads under the
 * console's CSP.
 */
jest.setTimeout(180_000);
const e2e = usePhoneApp({ env: { EINVOICE_SANDBOX_DELAY_MS: '100', EINVOICE_POLL_MS: '25' } });
let server: Server;
let url: string;
let deps: Deps;
const ops: Record<string, TestOperator> = {};

async function listen(app: ReturnType<typeof createConsoleApp>): Promise<{ server: Server; url: string }> {
  const s = createServer(app.callback());
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  deps = e2e.app.deps;
  ({ server, url } = await listen(createConsoleApp(deps)));
  ops.kefu1 = await createOperator(deps, { username: 'kefu1', displayName: '客服小王', roles: ['support'] });
  ops.kefu2 = await createOperator(deps, { username: 'kefu2', displayName: '客服小李', roles: ['support'] });
  ops.admin = await createOperator(deps, { username: 'guanli', displayName: '管理员老张', roles: ['admin'] });
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

async function watchViolations(context: BrowserContext): Promise<string[]> {
  const violations: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
  });
  context.on('console', (m) => {
    if (/CSP violation|Content Security Policy|Refused to/i.test(m.text())) violations.push(`${m.page()?.url()}: ${m.text()}`);
  });
  return violations;
}

async function login(base: string, op: TestOperator): Promise<{ page: Page; violations: string[] }> {
  const context = await e2e.browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const violations = await watchViolations(context);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.waitForURL(/\/login/);
  await page.locator('#username').fill(op.username);
  await page.locator('#password').fill(op.password);
  await page.locator('#code').fill(await freshTotp(deps, op));
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  return { page, violations };
}

async function shoot(page: Page, path: string, name: string): Promise<void> {
  await page.goto(`${url}${path}`);
  expect(await horizontalOverflow(page)).toBe(0);
  await screenshot(page, `console-${name}`);
}

describe('Console (1280 px): 客服 and 管理员 sections', () => {
  it('When a 客服 logs in with TOTP and proposes a red letter, then a second 客服 approves it and the invoice is reversed; every page renders without CSP violations', async () => {
    const openid = 'oE2EConsoleBuyer';
    const { orderNo, organization } = await paidOrder(deps, openid, { organization: '梅州市控制台红冲有限公司', sandbox: true });
    const { acceptanceNo } = await new InvoiceService(deps).request(openid, { orderNos: [orderNo], buyer: { buyerKind: 'organisation', title: organization, taxId: '91440101MA5CYQ8X3X', email: 'buyer@example.com' } });
    const repo = new InvoiceRepository();
    expect((await until(() => repo.byAcceptanceNo(deps.db.manager, acceptanceNo), (r) => r?.status === 'issued'))?.status).toBe('issued');

    const first = await login(url, ops.kefu1);
    await first.page.goto(`${url}/invoices`);
    await expect(first.page.getByRole('heading', { name: '开票状态' })).toBeTruthy();
    await first.page.locator('input[name=q]').fill(acceptanceNo);
    await first.page.getByRole('button', { name: '查找' }).click();
    await first.page.getByRole('link', { name: acceptanceNo }).click();
    await first.page.locator('#red-letter select[name=reason]').selectOption('issued-in-error');
    await first.page.locator('#red-letter input[name=why]').fill('购方来电：抬头有误，需重开');
    await first.page.getByRole('button', { name: '提交红冲申请' }).click();
    await first.page.waitForURL(/\/approvals\/\d+/);
    const approvalPath = new URL(first.page.url()).pathname;
    await screenshot(first.page, 'console-red-letter-proposed');

    const second = await login(url, ops.kefu2);
    await second.page.goto(`${url}${approvalPath}`);
    await second.page.getByRole('button', { name: /批准/ }).click();
    await second.page.waitForLoadState('load');
    await screenshot(second.page, 'console-red-letter-approved');
    expect((await until(() => repo.byAcceptanceNo(deps.db.manager, acceptanceNo), (r) => r?.status === 'reversed'))?.status).toBe('reversed');
    await second.page.goto(`${url}/invoices/${acceptanceNo}`);
    expect(await second.page.locator('h1').textContent()).toContain('已红冲');
    await screenshot(second.page, 'console-invoice-reversed');

    // Every page of the 客服 sections, photographed at 1280 px.
    const submission = await new HandlerDocumentService(deps).submit({
      openid: 'oE2EConsoleDocs', consentedAt: new Date(),
      form: { name: '赵经办', idNumber: idNumberFor('oE2EConsoleDocs'), organisation: '梅州市控制台材料单位', files: (['id-front', 'id-back', 'authorisation'] as const).map((kind, i) => ({ kind, contentType: 'image/png' as const, bytes: tinyPng(160, 100, [40 + i * 60, 120, 200]) })) },
    });
    const at = new Date();
    await deps.db.getRepository(HandlerAuthorisationEntity).insert({
      orgKey: 'org:梅州市控制台红冲有限公司', organization: organization, creditCode: null, idNumberIndex: 'e2e-index', nameMasked: '钱*', idNumberMasked: '4**************1',
      openid: 'oE2EConsoleSecondHandler', certificateId: 1, state: 'PENDING', method: 'review', firstSlot: null, requestedAt: at, decidedAt: null, decidedBy: null, reason: null,
      purgeAfter: new Date(at.getTime() + 5 * 365 * 86_400_000), sandbox: true, createdAt: at, updatedAt: at,
    });
    await new CertificateRepository().queueForReview(deps.db.manager, {
      fingerprintSha256: 'e2e'.padEnd(64, '0'), subjectDn: 'CN=梅州市未知项目单位,OU=未知项目,O=梅州市未知项目单位,C=CN', issuerDn: 'CN=SHUAN Sandbox Issuing CA (RSA)',
      policyOids: '1.3.6.1.4.1.59999.1.9', pem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', reason: 'no project rule matches OU 未知项目 / policy 1.3.6.1.4.1.59999.1.9', sandbox: true,
    }, at);
    const page = second.page;
    await shoot(page, '/invoices', 'invoices');
    await shoot(page, `/invoices/${acceptanceNo}`, 'invoice-detail');
    await shoot(page, '/reviews', 'reviews');
    await page.goto(`${url}/reviews/documents/${submission.id}`);
    await page.locator('input[name=reason]').first().fill('审核经办人材料');
    await page.getByRole('button', { name: '查看证件照片' }).click();
    await page.waitForLoadState('load');
    expect(await page.locator('img[src^="data:image/png"]').count()).toBe(3);
    await screenshot(page, 'console-document-view');
    await shoot(page, `/bindings?q=${openid}`, 'bindings');
    await shoot(page, '/bindings/import', 'bindings-import');
    await shoot(page, `/certificates?org=${encodeURIComponent('梅州市控制台')}`, 'certificates');
    const certLink = page.locator('table a[href^="/certificates/"]').first();
    const certPath = await certLink.getAttribute('href');
    await shoot(page, certPath!, 'certificate-detail');
    await shoot(page, `${certPath}/revoke`, 'certificate-revoke');

    const admin = await login(url, ops.admin);
    await shoot(admin.page, '/price-rules', 'price-rules');
    await shoot(admin.page, '/price-rules/1', 'price-rule-detail');
    await shoot(admin.page, '/jobs', 'jobs-embedded');
    expect([...first.violations, ...second.violations, ...admin.violations]).toEqual([]);
  });

  it('When a 管理员 opens the BullMQ board, then it loads under the console CSP (its own scripts, no fonts from elsewhere) and offers no working write button', async () => {
    const queue = new RedisJobQueue(REDIS_URL, `cam-e2e-board-${Date.now()}:`, deps.logger);
    queue.register('demo.fails', async () => {
      throw new Error('demo failure');
    });
    await queue.enqueue('demo.fails', { openid: 'oSecretOpenid0001' }, { jobId: 'demo-1', attempts: 1 });
    await queue.start();
    await until(() => queue.counts(), (c) => c.failed === 1);
    const board = await listen(createConsoleApp({ ...deps, jobs: queue }));
    try {
      const { page, violations } = await login(board.url, ops.admin);
      await page.goto(`${board.url}/jobs`);
      await screenshot(page, 'console-jobs-redis');
      await page.getByRole('link', { name: /打开 BullMQ 看板/ }).click();
      await page.waitForURL(/\/jobs\/board\//);
      await page.getByText('jobs', { exact: true }).first().waitFor();
      await screenshot(page, 'console-jobs-board');
      const writes: string[] = [];
      page.on('request', (r) => {
        if (r.method() !== 'GET') writes.push(`${r.method()} ${r.url()}`);
      });
      // The failed job's page: bull-board in read-only mode offers no retry, clean, remove or promote.
      await page.goto(`${board.url}/jobs/board/queue/jobs?status=failed`);
      await page.getByText('demo.fails').first().waitFor();
      await page.getByText('demo failure').first().waitFor({ timeout: 10_000 });
      await screenshot(page, 'console-jobs-board-failed');
      expect(await page.getByRole('button', { name: /重试|Retry|清理|Clean|删除|Remove|提升|Promote/ }).count()).toBe(0);
      expect(await page.content()).not.toContain('oSecretOpenid0001');
      expect(violations).toEqual([]);
      expect(writes).toEqual([]);
    } finally {
      board.server.closeAllConnections();
      await new Promise<void>((resolve) => board.server.close(() => resolve()));
      await queue.close();
    }
  });
});
