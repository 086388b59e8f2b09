import type Koa from 'koa';
import request from 'supertest';
import { createConsoleApp } from '../../src/modules/console/app';
import { ProposalEntity } from '../../src/modules/console/entities';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { certRevokeKind } from '../../src/modules/certificates/console-routes';
import { parseCrl } from '../../src/lib/pki/crl';
import { type BuiltInCa } from '../../src/providers/ca/sandbox';
import { RevocationEvidenceEntity } from '../../src/modules/certificates/revocation-entities';
import { DocumentAccessEntity } from '../../src/modules/handler-documents/entities';
import { HandlerDocumentService } from '../../src/modules/handler-documents/service';
import { redLetterKind } from '../../src/modules/invoices/console-routes';
import { InvoiceRepository } from '../../src/modules/invoices/repository';
import { InvoiceService } from '../../src/modules/invoices/service';
import { OrderLineEntity, PriceRuleEntity } from '../../src/modules/orders/entities';
import { RenewalAuditEntity } from '../../src/modules/renewals/entities';
import { isInspectable } from '../../src/lib/jobs/types';
import { createOperator, loginAgent, type ConsoleAgent, type TestOperator } from '../helpers/console';
import { idNumberFor } from '../helpers/handlers';
import { backend, TestClock } from '../helpers/harness';
import { tinyPng } from '../helpers/images';
import { paidOrder } from '../helpers/paid-orders';
import { knownCertificate } from '../helpers/pki-fixtures';
import { until } from '../helpers/until';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The support and admin sections of the console (issue 12): 发票, 审核, 绑定与经办人, 证书, 价格规则, 任务队列. Each
 * route checks its role on the server; red letters, revocations and price rules are four-eyes; document images
 * need a typed reason and every view is audited; the job board is read-only.
 */
const t = useTestApp({ env: { EINVOICE_SANDBOX_DELAY_MS: '100', EINVOICE_POLL_MS: '25' } });
let consoleApp: Koa;
const ops: Record<'support1' | 'support2' | 'finance' | 'admin1' | 'admin2', TestOperator> = {} as never;
const agents: Partial<Record<keyof typeof ops, ConsoleAgent>> = {};
let seq = 0;

beforeAll(async () => {
  consoleApp = createConsoleApp(t.instance.deps);
  ops.support1 = await createOperator(t.instance.deps, { username: 'kefu1', roles: ['support'] });
  ops.support2 = await createOperator(t.instance.deps, { username: 'kefu2', roles: ['support'] });
  ops.finance = await createOperator(t.instance.deps, { username: 'caiwu1', roles: ['finance'] });
  ops.admin1 = await createOperator(t.instance.deps, { username: 'guanli1', roles: ['admin'] });
  ops.admin2 = await createOperator(t.instance.deps, { username: 'guanli2', roles: ['admin'] });
});

/** A logged-in agent per operator (login counts as the step-up for the next 5 minutes). */
async function as(name: keyof typeof ops): Promise<ConsoleAgent> {
  agents[name] ??= await loginAgent(consoleApp, t.instance.deps, ops[name]);
  return agents[name]!;
}

const auditSteps = async (step: string) => (await t.instance.deps.db.getRepository(RenewalAuditEntity).find({ where: { step } })).map((e) => JSON.parse(e.detail) as Record<string, unknown>);

async function issuedInvoice(): Promise<string> {
  const openid = `o-console-${backend}-${++seq}-${Date.now().toString(36)}`;
  const { orderNo, organization } = await paidOrder(t.instance.deps, openid);
  const { acceptanceNo } = await new InvoiceService(t.instance.deps).request(openid, { orderNos: [orderNo], buyer: { buyerKind: 'organisation', title: organization, taxId: '91440101MA5CYQ8X3X', email: 'buyer@example.com' } });
  const repo = new InvoiceRepository();
  const row = await until(() => repo.byAcceptanceNo(t.instance.deps.db.manager, acceptanceNo), (r) => r?.status === 'issued');
  expect(row?.status).toBe('issued');
  return acceptanceNo;
}

const proposalIdOf = (res: request.Response) => Number(/\/approvals\/(\d+)/.exec(res.headers.location ?? '')?.[1]);

describe(`console support sections (${backend})`, () => {
  it('When nobody is logged in, then every support and admin route gives nothing: GET goes to the login page, POST is 401', async () => {
    const anon = request(consoleApp.callback());
    for (const path of ['/invoices', '/invoices/export.csv', '/invoices/X1', '/reviews', '/reviews/documents/1', '/bindings', '/bindings/import', '/certificates', '/certificates/1', '/certificates/1/revoke', '/certificates/evidence/1', '/price-rules', '/price-rules/1', '/jobs', '/jobs/board/', '/jobs/board/api/queues']) {
      const res = await anon.get(path);
      expect([path, res.status, res.headers.location]).toEqual([path, 302, expect.stringMatching(/^\/login\?next=/)]);
      expect(res.text).not.toMatch(/受理单号|证书序列号|价格规则 #/);
    }
    for (const path of ['/invoices/X1/red-letter', '/reviews/documents/1/view', '/bindings/1/unbind', '/certificates/1/revoke', '/price-rules', '/jobs/failed/x/retry']) {
      expect([path, (await anon.post(path).send('a=1')).status]).toEqual([path, 401]);
    }
  });

  it('When a finance operator opens a support page or posts a support action (revoke, red letter, unbind, document view), then it is refused 403; a support operator is refused the admin pages', async () => {
    const finance = await as('finance');
    for (const path of ['/invoices', '/invoices/export.csv', '/reviews', '/bindings', '/bindings/import', '/certificates', '/certificates/1', '/certificates/1/revoke', '/price-rules', '/jobs', '/jobs/board/']) {
      expect([path, (await finance.get(path)).status]).toEqual([path, 403]);
    }
    for (const path of ['/invoices/X1/red-letter', '/invoices/X1/resend', '/reviews/documents/1/view', '/reviews/handlers/1/approve', '/bindings/1/unbind', '/price-rules', '/jobs/failed/x/retry']) {
      expect([path, (await finance.post(path).set('x-csrf-token', finance.csrf).type('form').send({ reason: '试试看能否操作' })).status]).toEqual([path, 403]);
    }
    const cert = await knownCertificate(t.instance.deps, { organization: '梅州财务越权测试单位' });
    const revoke = await finance.post(`/certificates/${cert.id}/revoke?_csrf=${finance.csrf}`).field('_csrf', finance.csrf).field('reason', 'keyCompromise').field('evidenceText', '单位来函称 U-KEY 遗失，申请吊销').field('why', '遗失');
    expect(revoke.status).toBe(403);
    expect((await t.instance.deps.db.getRepository(CertificateEntity).findOneByOrFail({ id: cert.id })).status).toBe('valid');
    const support = await as('support1');
    for (const path of ['/price-rules', '/jobs', '/jobs/board/']) expect([path, (await support.get(path)).status]).toEqual([path, 403]);
    expect((await support.get('/invoices')).status).toBe(200);
    expect((await support.get('/reviews')).status).toBe(200);
    expect((await support.get('/bindings')).status).toBe(200);
    expect((await support.get('/certificates')).status).toBe(200);
  });

  it('When a 客服 proposes a red letter, then the proposer cannot approve it, a second 客服 approves, the red invoice is issued and the blue one is 已红冲; running the approval again files nothing new', async () => {
    const acceptanceNo = await issuedInvoice();
    const s1 = await as('support1');
    const page = await s1.get(`/invoices/${acceptanceNo}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('申请红冲');
    const proposed = await s1.post(`/invoices/${acceptanceNo}/red-letter`).type('form').send({ _csrf: s1.csrf, reason: 'issued-in-error', why: '购方来电：抬头有误，需重开' });
    expect(proposed.status).toBe(302);
    const id = proposalIdOf(proposed);
    const self = await s1.post(`/approvals/${id}/approve`).type('form').send({ _csrf: s1.csrf });
    expect(self.status).toBe(403);
    expect(self.text).toContain('不能批准自己提交的申请');
    const repo = new InvoiceRepository();
    expect(await repo.redOf(t.instance.deps.db.manager, (await repo.byAcceptanceNo(t.instance.deps.db.manager, acceptanceNo))!.id)).toBeNull();

    const s2 = await as('support2');
    expect((await s2.post(`/approvals/${id}/approve`).type('form').send({ _csrf: s2.csrf })).status).toBe(302);
    const proposal = await t.instance.deps.db.getRepository(ProposalEntity).findOneByOrFail({ id });
    expect(proposal).toMatchObject({ status: 'EXECUTED', approverId: ops.support2.id });
    const redNo = (JSON.parse(proposal.result!) as { redAcceptanceNo: string }).redAcceptanceNo;
    const blue = await until(() => repo.byAcceptanceNo(t.instance.deps.db.manager, acceptanceNo), (r) => r?.status === 'reversed');
    expect(blue?.status).toBe('reversed');
    expect((await repo.byAcceptanceNo(t.instance.deps.db.manager, redNo))?.status).toBe('issued');
    // Idempotent: the kind run again (a retry after a crash) reports the same red invoice.
    const again = await redLetterKind.execute(t.instance.deps, { acceptanceNo, reason: 'issued-in-error' }, { proposalId: id, proposerId: ops.support1.id, approverId: ops.support2.id });
    expect(again).toMatchObject({ redAcceptanceNo: redNo, already: true });
    expect((await auditSteps('console.proposal.propose')).some((d) => d.subject === `proposal:${id}`)).toBe(true);
  });

  it('When a 客服 proposes revoking a certificate with a reason code and a letter, then the proposer cannot approve, a second 客服 approves, the CA revokes it (its CRL lists it as affiliationChanged) and ours says revoked; the evidence opens audited', async () => {
    const deps = t.instance.deps;
    const cert = await knownCertificate(deps, { organization: '梅州吊销测试单位', algorithm: 'RSA-2048' });
    const s1 = await as('support1');
    expect((await s1.get(`/certificates/${cert.id}/revoke`)).status).toBe(200);
    const letter = tinyPng(20, 12, [200, 30, 30], '吊销申请函');
    const proposed = await s1.post(`/certificates/${cert.id}/revoke?_csrf=${s1.csrf}`)
      .field('_csrf', s1.csrf).field('reason', 'affiliationChanged').field('evidenceText', '2026-12-03 单位来函（加盖公章）：单位已更名，申请吊销旧名称的证书').field('why', '单位更名')
      .attach('evidence', letter, { filename: '申请函.png', contentType: 'image/png' });
    expect(proposed.status).toBe(302);
    const id = proposalIdOf(proposed);
    expect((await s1.post(`/approvals/${id}/approve`).type('form').send({ _csrf: s1.csrf })).status).toBe(403);
    expect((await deps.ca.status(cert.serialHex)).status).toBe('good');

    const s2 = await as('support2');
    expect((await s2.post(`/approvals/${id}/approve`).type('form').send({ _csrf: s2.csrf })).status).toBe(302);
    expect(await deps.db.getRepository(ProposalEntity).findOneByOrFail({ id })).toMatchObject({ status: 'EXECUTED' });
    expect(await deps.ca.status(cert.serialHex)).toMatchObject({ status: 'revoked', reason: 'affiliationChanged' });
    const crl = await (deps.ca as BuiltInCa).crl('sandbox-rsa');
    expect(parseCrl(crl!.der, new Uint8Array()).entries).toContainEqual({ serialHex: cert.serialHex, revokedAt: expect.any(Date), reason: 'affiliationChanged' });
    // Approved again (a retry after a crash): the CA keeps the first revocation, nothing fails.
    await expect(certRevokeKind.execute(deps, JSON.parse((await deps.db.getRepository(ProposalEntity).findOneByOrFail({ id })).payload), { proposalId: id, proposerId: ops.support1.id, approverId: ops.support2.id })).resolves.toMatchObject({ revoked: [cert.serialHex] });
    expect((await deps.db.getRepository(CertificateEntity).findOneByOrFail({ id: cert.id })).status).toBe('revoked');

    const evidence = await deps.db.getRepository(RevocationEvidenceEntity).findOneByOrFail({ certificateId: cert.id });
    expect(evidence.sealed.equals(letter)).toBe(false); // sealed at rest
    const opened = await s2.get(`/certificates/evidence/${evidence.id}`).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(opened.status).toBe(200);
    expect((opened.body as Buffer).equals(letter)).toBe(true);
    expect((await auditSteps('console.evidence.view')).some((d) => d.subject === `revocation_evidence:${evidence.id}`)).toBe(true);
    // A second proposal for a revoked certificate is refused at proposal time.
    const twice = await s1.post(`/certificates/${cert.id}/revoke?_csrf=${s1.csrf}`).field('_csrf', s1.csrf).field('reason', 'keyCompromise').field('evidenceText', '重复提交的吊销申请，应被拒绝').field('why', '重复');
    expect(twice.status).toBe(409);
  });

  it('When a 管理员 proposes a price rule, then the proposer cannot approve, a second 管理员 approves and it is in force; an edit of a rule an order used is refused, at proposal and at approval', async () => {
    const deps = t.instance.deps;
    const a1 = await as('admin1');
    const project = `测试项目${backend}${Date.now() % 100000}`;
    const form = { _csrf: a1.csrf, project, certType: '机构证书', unitPrice: '150.00', allowedYears: '1,2,3', effectiveFrom: '2020-01-01T00:00', taxRate: '6', why: '新项目上线' };
    const stale = await a1.post('/price-rules').type('form').send(form);
    expect(stale.status).toBe(400); // no back-dating: orders already priced
    const now = new Date(deps.clock.nowMs() + 8 * 3_600_000).toISOString().slice(0, 16);
    const proposed = await a1.post('/price-rules').type('form').send({ ...form, effectiveFrom: now });
    expect(proposed.status).toBe(302);
    const id = proposalIdOf(proposed);
    expect((await a1.post(`/approvals/${id}/approve`).type('form').send({ _csrf: a1.csrf })).status).toBe(403);
    const a2 = await as('admin2');
    expect((await a2.post(`/approvals/${id}/approve`).type('form').send({ _csrf: a2.csrf })).status).toBe(302);
    const rule = await deps.db.getRepository(PriceRuleEntity).findOneByOrFail({ project });
    expect(rule).toMatchObject({ unitPriceFen: 15000, allowedYears: '1,2,3', certType: '机构证书' });

    // Unused: an edit may be proposed. Then an order is priced with it before approval: the approval fails, the rule stands.
    const edit = await a1.post(`/price-rules/${rule.id}/edit`).type('form').send({ ...form, effectiveFrom: now, unitPrice: '120.00', why: '录错价格' });
    expect(edit.status).toBe(302);
    const editId = proposalIdOf(edit);
    await deps.db.getRepository(OrderLineEntity).insert({ orderId: 999_000 + seq, certificateId: 1, years: 1, unitPriceFen: 15000, amountFen: 15000, priceRuleId: rule.id, openKey: null } as never);
    expect((await a2.post(`/approvals/${editId}/approve`).type('form').send({ _csrf: a2.csrf })).status).toBe(302);
    expect(await deps.db.getRepository(ProposalEntity).findOneByOrFail({ id: editId })).toMatchObject({ status: 'FAILED', error: expect.stringContaining('已被订单使用') });
    expect((await deps.db.getRepository(PriceRuleEntity).findOneByOrFail({ id: rule.id })).unitPriceFen).toBe(15000);
    // Used: the edit is refused at proposal, and the page offers a new rule instead.
    const refused = await a1.post(`/price-rules/${rule.id}/edit`).type('form').send({ ...form, effectiveFrom: now, unitPrice: '120.00', why: '再试' });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('已被订单使用');
    expect((await a1.get(`/price-rules/${rule.id}`)).text).toContain('不能修改');
    // Retiring a used rule is allowed (old orders keep it; new ones cannot use it).
    const retire = await a1.post(`/price-rules/${rule.id}/retire`).type('form').send({ _csrf: a1.csrf, effectiveTo: now, why: '项目结束' });
    expect((await a2.post(`/approvals/${proposalIdOf(retire)}/approve`).type('form').send({ _csrf: a2.csrf })).status).toBe(302);
    expect((await deps.db.getRepository(PriceRuleEntity).findOneByOrFail({ id: rule.id })).effectiveTo).not.toBeNull();
  });

  it('When a 客服 opens a handler document, then the images are refused without a typed reason, shown with one, and the view is audited with the reason', async () => {
    const deps = t.instance.deps;
    const openid = `o-doc-${backend}-${Date.now().toString(36)}`;
    const submission = await new HandlerDocumentService(deps).submit({
      openid, consentedAt: new Date(),
      form: { name: '测试经办人', idNumber: idNumberFor(openid), organisation: '梅州材料审核单位', files: (['id-front', 'id-back', 'authorisation'] as const).map((kind) => ({ kind, contentType: 'image/png' as const, bytes: tinyPng() })) },
    });
    const s1 = await as('support1');
    const page = await s1.get(`/reviews/documents/${submission.id}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('data:image/png');
    const noReason = await s1.post(`/reviews/documents/${submission.id}/view`).type('form').send({ _csrf: s1.csrf, reason: ' ' });
    expect(noReason.status).toBe(400);
    expect(noReason.text).not.toContain('data:image/png');
    expect(await deps.db.getRepository(DocumentAccessEntity).countBy({ submissionId: submission.id })).toBe(0);

    const shown = await s1.post(`/reviews/documents/${submission.id}/view`).type('form').send({ _csrf: s1.csrf, reason: '审核经办人材料' });
    expect(shown.status).toBe(200);
    expect(shown.headers['cache-control']).toBe('no-store');
    expect(shown.text.match(/src="data:image\/png;base64,/g)).toHaveLength(3);
    expect(shown.text).toContain('测试经办人');
    expect(await deps.db.getRepository(DocumentAccessEntity).findBy({ submissionId: submission.id })).toEqual([expect.objectContaining({ action: 'show', actor: 'operator:kefu1' })]);
    expect(await auditSteps('console.document.view')).toContainEqual(expect.objectContaining({ subject: `handler_document:${submission.id}`, reason: '审核经办人材料', operator: { id: ops.support1.id, username: 'kefu1' } }));
  });

  it('When a 管理员 opens the job board, then it is read-only: its pages and read API answer, its retry/clean/promote API is refused; a failed job is re-queued only by the audited console action', async () => {
    const deps = t.instance.deps;
    const a1 = await as('admin1');
    const jobs = deps.jobs;
    let runs = 0;
    jobs.register('test.console-fails', async () => {
      runs++;
      if (runs === 1) throw new Error('first run fails on purpose');
    });
    await jobs.enqueue('test.console-fails', { openid: 'o-secret-openid-123456' }, { jobId: 'console-fail-1', attempts: 1 });
    if (!isInspectable(jobs)) throw new Error('the built-in queues are inspectable');
    const failed = await until(() => jobs.failedJobs(20), (f) => f.some((j) => j.name === 'test.console-fails'));
    const job = failed.find((j) => j.name === 'test.console-fails')!;

    const page = await a1.get('/jobs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('test.console-fails');
    if (backend === 'mysql') {
      const board = await a1.get('/jobs/board/');
      expect(board.status).toBe(200);
      expect(board.text).not.toContain('fonts.googleapis.com');
      expect(board.text).toContain('src="/jobs/board/static/js/');
      const queues = await a1.get('/jobs/board/api/queues');
      expect(queues.status).toBe(200);
      expect(queues.body.queues[0]).toMatchObject({ readOnlyMode: true, allowRetries: false });
      expect(JSON.stringify(queues.body)).not.toContain('o-secret-openid-123456');
      for (const [method, path] of [['put', '/jobs/board/api/queues/jobs/retry/failed'], ['put', `/jobs/board/api/queues/jobs/${job.jobId}/retry/failed`], ['put', '/jobs/board/api/queues/jobs/clean/failed'], ['put', '/jobs/board/api/queues/jobs/promote'], ['delete', `/jobs/board/api/queues/jobs/${job.jobId}`]] as const) {
        expect([path, (await a1[method](path).set('x-csrf-token', a1.csrf)).status]).toEqual([path, 403]);
      }
    } else {
      expect((await a1.get('/jobs/board/')).status).toBe(404);
    }
    expect((await jobs.failedJobs(20)).some((j) => j.jobId === job.jobId)).toBe(true);

    const retried = await a1.post(`/jobs/failed/${encodeURIComponent(job.jobId)}/retry`).type('form').send({ _csrf: a1.csrf });
    expect(retried.status).toBe(302);
    await until(async () => runs, (n) => n >= 2);
    expect(runs).toBe(2);
    expect(await auditSteps('console.job.retry')).toContainEqual(expect.objectContaining({ subject: `job:${job.jobId}`, operator: { id: ops.admin1.id, username: 'guanli1' } }));
  });

  it('When a 客服 unbinds a handler with a reason, then the binding ends and the audit log has before/after and the reason; without a reason it is refused', async () => {
    const deps = t.instance.deps;
    const openid = `o-unbind-${backend}-${Date.now().toString(36)}`;
    const { orderNo } = await paidOrder(deps, openid);
    void orderNo;
    const s1 = await as('support1');
    const list = await s1.get(`/bindings?q=${openid}`);
    expect(list.status).toBe(200);
    const bindingId = Number(/\/bindings\/(\d+)\/unbind/.exec(list.text)?.[1]);
    expect((await s1.post(`/bindings/${bindingId}/unbind`).type('form').send({ _csrf: s1.csrf, reason: '' })).status).toBe(400);
    expect((await s1.post(`/bindings/${bindingId}/unbind`).type('form').send({ _csrf: s1.csrf, reason: '单位来电：经办人已离职' })).status).toBe(302);
    expect((await s1.get(`/bindings?q=${openid}`)).text).toContain('已解除');
    expect(await auditSteps('console.binding.unbind')).toContainEqual(expect.objectContaining({ subject: `binding:${bindingId}`, reason: '单位来电：经办人已离职', before: expect.objectContaining({ active: true, openid }), after: expect.objectContaining({ active: false }) }));
  });

  it('When a 客服 exports the invoice list, then it is a CSV with a BOM, the personal-data export is audited; a 客服 uploads a legacy file, then valid lines are imported and rejected lines listed, audited', async () => {
    const acceptanceNo = await issuedInvoice();
    const s1 = await as('support1');
    const csv = await s1.get(`/invoices/export.csv?q=${acceptanceNo}`).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(csv.status).toBe(200);
    const text = (csv.body as Buffer).toString('utf8');
    expect(text.charCodeAt(0)).toBe(0xfeff);
    expect(text).toContain('受理单号');
    expect(text).toContain(acceptanceNo);
    expect(await auditSteps('console.invoices.export')).toContainEqual(expect.objectContaining({ subject: 'invoices', rows: 1, operator: { id: ops.support1.id, username: 'kefu1' } }));

    const file = Buffer.from(`unionid,serial,media_serial,单位名称\noLegacyUnionConsole${backend}0001,,9000000000000199,梅州市示范会计师事务所\nshort,,9000000000000198,坏行\n`, 'utf8');
    const imported = await s1.post(`/bindings/import?_csrf=${s1.csrf}`).field('_csrf', s1.csrf).attach('file', file, { filename: 'legacy.csv', contentType: 'text/csv' });
    expect(imported.status).toBe(200);
    expect(imported.text).toMatch(/读取行数<\/dt><dd>2（有效 1，拒绝 1）/);
    expect(imported.text).toContain('unionid 格式不正确');
    expect(await auditSteps('console.legacy.import')).toContainEqual(expect.objectContaining({ subject: 'legacy-file:legacy.csv', after: expect.objectContaining({ inserted: 1, rejected: 1 }) }));
    const again = await s1.post(`/bindings/import?_csrf=${s1.csrf}`).field('_csrf', s1.csrf).attach('file', file, { filename: 'legacy.csv', contentType: 'text/csv' });
    expect(again.text).toMatch(/新增 0，此前已导入 1/);
  });

  it('When a 客服 logged in more than 5 minutes ago opens document images, a revocation or the invoice export, then step-up is asked first and nothing is shown or proposed', async () => {
    const deps = t.instance.deps;
    const clock = new TestClock(deps.clock.nowMs());
    const app = createConsoleApp({ ...deps, clock });
    const agent = await loginAgent(app, { ...deps, clock }, ops.support2);
    clock.advance(6 * 60_000);
    const cert = await knownCertificate(deps, { organization: '梅州再次验证测试单位' });
    expect((await agent.get('/reviews/documents/1')).headers.location).toMatch(/^\/step-up\?next=/);
    expect((await agent.get(`/certificates/${cert.id}/revoke`)).headers.location).toMatch(/^\/step-up\?next=/);
    expect((await agent.get('/invoices/export.csv')).headers.location).toMatch(/^\/step-up\?next=/);
    const view = await agent.post('/reviews/documents/1/view').type('form').send({ _csrf: agent.csrf, reason: '审核经办人材料' });
    expect(view.status).toBe(403);
    expect(view.text).not.toContain('data:image');
    const revoke = await agent.post(`/certificates/${cert.id}/revoke?_csrf=${agent.csrf}`).field('_csrf', agent.csrf).field('reason', 'keyCompromise').field('evidenceText', '单位来函称 U-KEY 遗失，申请吊销').field('why', '遗失');
    expect(revoke.status).toBe(403);
    expect(await deps.db.getRepository(ProposalEntity).countBy({ kind: 'cert-revoke', proposerId: ops.support2.id })).toBe(0);
  });
});
