import { randomBytes } from 'node:crypto';
import { type CliIo } from '../../src/cli/bootstrap';
import { handlerReviews } from '../../src/cli/handler-reviews';
import { inTransaction } from '../../src/lib/db/transaction';
import { type AppError } from '../../src/lib/errors';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate, CertificateEntity } from '../../src/modules/certificates/entities';
import { HandlerAuthorisationEntity } from '../../src/modules/handler-authorisation/entities';
import { enqueueDailyPurge, purgeHandlerRecords } from '../../src/modules/handler-authorisation/jobs';
import { DocumentFileEntity, DocumentSubmissionEntity } from '../../src/modules/handler-documents/entities';
import { HandlerDocumentService } from '../../src/modules/handler-documents/service';
import { REVIEW_NOTICE_JOB } from '../../src/modules/handler-authorisation/review-notices';
import { HandlerAuthorisationService, HandlerNotAuthorisedError, MESSAGES, orgKeyOf } from '../../src/modules/handler-authorisation/service';
import { HandlerAttemptEntity, VerifiedHandlerEntity } from '../../src/modules/handlers/entities';
import { addYears } from '../../src/modules/handlers/service';
import { RenewalPreview } from '../../src/modules/orders/renewal-preview';
import { OrderService } from '../../src/modules/orders/service';
import { idNumberFor, verifyHandler } from '../helpers/handlers';
import { jobsEnded, untilJobsEnded } from '../helpers/jobs';
import { tinyPng } from '../helpers/images';
import { backend, TEST_WECHAT } from '../helpers/harness';
import { csrfOf, loginAs } from '../helpers/h5-login';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * 经办人授权 on the real database: the first verified handler of an organisation is recorded, later ones wait for
 * an operator (npm run handlers:reviews), a certificate's registered handler is the only one who may renew it,
 * retention follows the certificates acted for, and the daily purge deletes only what has expired.
 */
const DAY = 86_400_000;
let orders: OrderService;
let preview: RenewalPreview;
let authorisation: HandlerAuthorisationService;
let seq = 0;
/** Fixed PII keys: the operator command opens its own dependencies and must index ID numbers as the app does. */
const PII_ENV = { PII_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`, PII_HMAC_KEY: randomBytes(32).toString('base64') };

const t = useTestApp({ wechat: true, env: { ...PII_ENV, TRUST_PROXY: 'true', WECHAT_TEMPLATE_REVIEW_RESULT: 'tpl-review-result-01' } });
// Runs after useTestApp's beforeAll (hooks run in the order they are registered): the instance is up.
beforeAll(async () => {
  orders = new OrderService(t.instance.deps);
  preview = new RenewalPreview(t.instance.deps);
  authorisation = new HandlerAuthorisationService(t.instance.deps);
});

/** A certificate of `organization` (one 统一社会信用代码 per name), bound to `openid`, 30 days before expiry. */
function bound(openid: string, organization: string, days = 30): Promise<Certificate> {
  const now = Date.now();
  return boundCertificate(t.instance.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + days * DAY) });
}
const orgName = () => `梅州授权测试单位${++seq}`;
const order = (openid: string, cert: Certificate) => orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a refusal');
}

const rowsOf = (cert: Certificate) => t.instance.deps.db.getRepository(HandlerAuthorisationEntity).find({ where: { orgKey: orgKeyOf(cert) }, order: { id: 'ASC' } });

async function cli(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  // The command talks to the same (sandbox) WeChat as the app: on the embedded default it sends the 审核结果通知 itself.
  const wechat = { ...TEST_WECHAT, WECHAT_API_BASE: t.sandbox.url, WECHAT_TEMPLATE_REVIEW_RESULT: 'tpl-review-result-01' };
  const io: CliIo = { env: { ...t.handle.env, ...PII_ENV, ...wechat, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', USER: 'tester' }, out: (l) => lines.push(l), err: (l) => lines.push(l) };
  await handlerReviews(io, args);
  return lines;
}

describe(`handler authorisation (${backend})`, () => {
  it('When the first verified handler of an organisation orders, then they are recorded as its APPROVED handler and the order is created', async () => {
    const cert = await bound('oAuthFirst', orgName());
    await verifyHandler(t.instance.deps, 'oAuthFirst');
    await expect(order('oAuthFirst', cert)).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
    const rows = await rowsOf(cert);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ state: 'APPROVED', method: 'first', firstSlot: 1, decidedBy: 'system:first-handler', organization: cert.organization, creditCode: cert.creditCode });
    expect(rows[0].idNumberIndex).toBe(t.instance.deps.pii.index(idNumberFor('oAuthFirst'), 'id-number'));
  });

  it('When a second person of the same organisation orders, then it is refused as waiting for 客服审核 and one PENDING request is queued, however often they try', async () => {
    const org = orgName();
    const first = await bound('oAuthOrgA', org);
    await verifyHandler(t.instance.deps, 'oAuthOrgA');
    await order('oAuthOrgA', first);
    const mine = await bound('oAuthOrgB', org);
    await verifyHandler(t.instance.deps, 'oAuthOrgB');
    for (let i = 0; i < 2; i++) {
      const err = await refusal(order('oAuthOrgB', mine));
      expect(err).toBeInstanceOf(HandlerNotAuthorisedError);
      expect(err).toMatchObject({ reason: 'handler-pending', status: 403, userMessage: MESSAGES.pending });
    }
    const rows = await rowsOf(mine);
    expect(rows.map((r) => [r.state, r.method, r.firstSlot])).toEqual([['APPROVED', 'first', 1], ['PENDING', 'review', null]]);
    const options = await preview.renewalOptions('oAuthOrgB', new Date());
    expect(options[0]).toMatchObject({ refusal: 'handler-pending', userMessage: MESSAGES.pending });
  });

  it('When an operator approves the request (twice), then the queue shows it masked, the handler can order, and the second approval changes nothing', async () => {
    const org = orgName();
    await verifyHandler(t.instance.deps, 'oAuthApproveA');
    await order('oAuthApproveA', await bound('oAuthApproveA', org));
    const cert = await bound('oAuthApproveB', org);
    await verifyHandler(t.instance.deps, 'oAuthApproveB', { name: '李四' });
    await refusal(order('oAuthApproveB', cert));
    const pending = (await rowsOf(cert)).find((r) => r.state === 'PENDING')!;

    const listed = (await cli([])).join('\n');
    const idNumber = idNumberFor('oAuthApproveB');
    expect(listed).toContain(`#${pending.id}`);
    expect(listed).toContain('李*');
    expect(listed).toContain(`${idNumber[0]}****************${idNumber[17]}`);
    expect(listed).toContain(org);
    expect(listed).not.toContain(idNumber);

    expect(await cli(['--approve', String(pending.id)])).toEqual([`Request ${pending.id} approved: 李* for ${org}.`]);
    expect(await cli(['--approve', String(pending.id)])).toEqual([`Request ${pending.id} approved already (nothing changed): 李* for ${org}.`]);
    expect((await rowsOf(cert)).find((r) => r.id === pending.id)).toMatchObject({ state: 'APPROVED', method: 'review', decidedBy: 'operator:tester' });
    await expect(order('oAuthApproveB', cert)).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
  });

  it('When an operator decides a request, then the handler gets a 审核结果通知 template message after the commit, and one that unfollowed gets none', async () => {
    const templatesTo = (openid: string) => t.sandbox.state.outbox.filter((m) => m.kind === 'template' && m.openid === openid).map((m) => (m.body as { data: Record<string, { value: string }> }).data);
    const waitFor = async (openid: string, n: number) => {
      for (const until = Date.now() + 10_000; templatesTo(openid).length < n && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
      return templatesTo(openid);
    };
    const pendingFor = async (openid: string, org: string) => {
      const cert = await bound(openid, org);
      await verifyHandler(t.instance.deps, openid);
      await refusal(order(openid, cert));
      return (await rowsOf(cert)).find((r) => r.state === 'PENDING' && r.openid === openid)!;
    };
    const org = orgName();
    await verifyHandler(t.instance.deps, 'oAuthNoticeFirst');
    await order('oAuthNoticeFirst', await bound('oAuthNoticeFirst', org));
    for (const openid of ['oAuthNoticeOk', 'oAuthNoticeNo', 'oAuthNoticeGone']) t.sandbox.state.recordInteraction(openid, 'subscribe');
    t.sandbox.state.recordInteraction('oAuthNoticeGone', 'unsubscribe');

    const ok = await pendingFor('oAuthNoticeOk', org);
    const noticesBefore = await jobsEnded([t.instance.deps], REVIEW_NOTICE_JOB);
    await authorisation.approve(ok.id, 'operator:tester', new Date());
    expect(await waitFor('oAuthNoticeOk', 1)).toEqual([expect.objectContaining({ thing1: { value: '经办人授权审核' }, phrase2: { value: '审核通过' } })]);
    const no = await pendingFor('oAuthNoticeNo', org);
    await authorisation.reject(no.id, 'operator:tester', '单位未出具授权书', new Date());
    expect(await waitFor('oAuthNoticeNo', 1)).toEqual([expect.objectContaining({ phrase2: { value: '审核未通过' }, thing3: { value: '未通过：单位未出具授权书' } })]);
    // Deciding again changes nothing and tells nobody twice.
    await authorisation.reject(no.id, 'operator:tester', '单位未出具授权书', new Date());
    const gone = await pendingFor('oAuthNoticeGone', org);
    await authorisation.approve(gone.id, 'operator:tester', new Date());
    // Three decisions changed something (the repeated rejection did not): once their three notice jobs ended,
    // whatever they were going to send has been sent.
    await untilJobsEnded([t.instance.deps], REVIEW_NOTICE_JOB, noticesBefore + 3);
    expect(templatesTo('oAuthNoticeNo')).toHaveLength(1);
    expect(templatesTo('oAuthNoticeGone')).toEqual([]);
  });

  it('When an operator rejects the request with a reason, then the handler is refused saying so, and rejecting again (or without a reason) changes nothing', async () => {
    const org = orgName();
    await verifyHandler(t.instance.deps, 'oAuthRejectA');
    await order('oAuthRejectA', await bound('oAuthRejectA', org));
    const cert = await bound('oAuthRejectB', org);
    await verifyHandler(t.instance.deps, 'oAuthRejectB');
    await refusal(order('oAuthRejectB', cert));
    const pending = (await rowsOf(cert)).find((r) => r.state === 'PENDING')!;

    await expect(cli(['--reject', String(pending.id)])).rejects.toThrow('--reason');
    expect(await cli(['--reject', String(pending.id), '--reason', '单位未出具授权书'])).toEqual([expect.stringContaining(`Request ${pending.id} rejected:`)]);
    expect((await authorisation.reject(pending.id, 'operator:other', '另一个原因', new Date())).changed).toBe(false);
    const err = await refusal(order('oAuthRejectB', cert));
    expect(err).toMatchObject({ reason: 'handler-rejected', userMessage: MESSAGES.rejected('单位未出具授权书') });
    expect(err.userMessage).toContain('经办人审核未通过（单位未出具授权书）');
    expect(await cli([])).not.toContain(`#${pending.id}`);
  });

  it('When the certificate has a registered handler, then only that person may order for it, even as the organisation\'s first handler', async () => {
    const org = orgName();
    const cert = await bound('oAuthStranger', org);
    await verifyHandler(t.instance.deps, 'oAuthStranger');
    const registered = idNumberFor('oAuthRegistered');
    expect(await cli(['--register', String(cert.id), '--id-number', registered])).toEqual([`Certificate ${cert.id}: registered handler set (${registered[0]}****************${registered[17]}).`]);
    const err = await refusal(order('oAuthStranger', cert));
    expect(err).toMatchObject({ reason: 'handler-not-registered', status: 403, userMessage: '您不是该证书登记的经办人，请由登记经办人办理，或联系客服变更经办人' });
    expect(await rowsOf(cert)).toEqual([]);

    // The registered person binds the same certificate on their own phone.
    await inTransaction(t.instance.deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid: 'oAuthRegistered', source: 'capc', sandbox: false }, new Date()));
    await verifyHandler(t.instance.deps, 'oAuthRegistered');
    await expect(order('oAuthRegistered', cert)).resolves.toMatchObject({ state: 'PENDING_PAYMENT' });
    expect(await rowsOf(cert)).toEqual([expect.objectContaining({ state: 'APPROVED', method: 'registered', firstSlot: null, openid: 'oAuthRegistered' })]);
    // So the stranger cannot become the unit's "first" handler through another of its certificates.
    const other = await bound('oAuthStranger', org);
    expect(await refusal(order('oAuthStranger', other))).toMatchObject({ reason: 'handler-pending' });
    await expect(authorisation.registerHandler(cert.id, '123', new Date())).rejects.toMatchObject({ status: 400 });
    await expect(cli(['--register', '987654321', '--id-number', registered])).rejects.toThrow('No certificate with id 987654321');
    expect(await cli(['--unregister', String(cert.id)])).toEqual([`Certificate ${cert.id}: registered handler cleared.`]);
    expect((await t.instance.deps.db.getRepository(CertificateEntity).findOneByOrFail({ id: cert.id })).registeredHandlerIndex).toBeNull();
  });

  it('When two people claim to be an organisation\'s first handler at the same moment, then exactly one is APPROVED and the other waits for review', async () => {
    for (let round = 0; round < 3; round++) {
      const org = orgName();
      const a = await bound(`oAuthRaceA${round}`, org);
      const b = await bound(`oAuthRaceB${round}`, org);
      await verifyHandler(t.instance.deps, `oAuthRaceA${round}`);
      await verifyHandler(t.instance.deps, `oAuthRaceB${round}`);
      const results = await Promise.allSettled([order(`oAuthRaceA${round}`, a), order(`oAuthRaceB${round}`, b)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ reason: 'handler-pending' });
      const rows = await rowsOf(a);
      expect(rows.map((r) => r.state).sort()).toEqual(['APPROVED', 'PENDING']);
      expect(rows.filter((r) => r.firstSlot === 1)).toHaveLength(1);
    }
  });

  it('When a handler orders renewal of a certificate, then their verified record, the passing check and the authorisation are kept until 5 years after it expires', async () => {
    const cert = await bound('oAuthRetain', orgName(), 60);
    const handler = await verifyHandler(t.instance.deps, 'oAuthRetain');
    const until = addYears(cert.notAfter, 5);
    expect(handler.purgeAfter.getTime()).toBeLessThan(until.getTime());
    await order('oAuthRetain', cert);
    const db = t.instance.deps.db;
    expect((await db.getRepository(VerifiedHandlerEntity).findOneByOrFail({ openid: 'oAuthRetain' })).purgeAfter.getTime()).toBe(until.getTime());
    expect((await db.getRepository(HandlerAttemptEntity).findOneByOrFail({ id: handler.attemptId })).purgeAfter.getTime()).toBe(until.getTime());
    expect((await rowsOf(cert))[0].purgeAfter.getTime()).toBe(until.getTime());
  });

  it('When a handler verified by documents orders renewal, then the approved submission and its images are kept until 5 years after expiry, and the daily purge deletes expired ones', async () => {
    const documents = new HandlerDocumentService(t.instance.deps);
    const submit = (openid: string) => documents.submit({
      openid, consentedAt: new Date(),
      form: { name: '测试经办人', idNumber: idNumberFor(openid), organisation: '梅州材料单位', files: (['id-front', 'id-back', 'authorisation'] as const).map((kind) => ({ kind, contentType: 'image/png' as const, bytes: tinyPng() })) },
    });
    const cert = await bound('oAuthDocs', orgName(), 60);
    t.sandbox.state.recordInteraction('oAuthDocs', 'subscribe');
    const approved = await submit('oAuthDocs');
    await documents.approve(approved.id, 'ops-test');
    // The handler is told (审核结果通知), as for the authorisation queue.
    const toldOf = () => t.sandbox.state.outbox.filter((m) => m.kind === 'template' && m.openid === 'oAuthDocs').map((m) => (m.body as { data: Record<string, { value: string }> }).data);
    for (const until = Date.now() + 10_000; !toldOf().length && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    expect(toldOf()).toEqual([expect.objectContaining({ thing1: { value: '经办人证件审核' }, phrase2: { value: '审核通过' }, thing3: { value: '认证已完成，可以续期缴费' } })]);
    await order('oAuthDocs', cert);
    const db = t.instance.deps.db;
    expect((await db.getRepository(DocumentSubmissionEntity).findOneByOrFail({ id: approved.id })).purgeAfter.getTime()).toBe(addYears(cert.notAfter, 5).getTime());

    const stale = await submit('oAuthDocsStale');
    await db.getRepository(DocumentSubmissionEntity).update({ id: stale.id }, { purgeAfter: new Date(Date.now() - DAY) });
    const purged = await purgeHandlerRecords(t.instance.deps, new Date());
    expect(purged).toMatchObject({ submissions: 1, files: 3 });
    expect(await db.getRepository(DocumentSubmissionEntity).countBy({ id: stale.id })).toBe(0);
    expect(await db.getRepository(DocumentFileEntity).countBy({ submissionId: stale.id })).toBe(0);
    expect(await db.getRepository(DocumentFileEntity).countBy({ submissionId: approved.id })).toBe(3);
  });

  it('When the daily job handlers.purge runs, then records past their retention are deleted and every other record stays', async () => {
    const db = t.instance.deps.db;
    const past = new Date(Date.now() - DAY);
    const oldCert = await bound('oAuthPurgeOld', orgName());
    const oldHandler = await verifyHandler(t.instance.deps, 'oAuthPurgeOld');
    await order('oAuthPurgeOld', oldCert);
    const keptCert = await bound('oAuthPurgeKept', orgName());
    const kept = await verifyHandler(t.instance.deps, 'oAuthPurgeKept');
    await order('oAuthPurgeKept', keptCert);
    await db.getRepository(VerifiedHandlerEntity).update({ id: oldHandler.id }, { purgeAfter: past });
    await db.getRepository(HandlerAttemptEntity).update({ id: oldHandler.attemptId }, { purgeAfter: past });
    await db.getRepository(HandlerAuthorisationEntity).update({ orgKey: orgKeyOf(oldCert) }, { purgeAfter: past });

    // What the hourly timer of every instance does: only the first ask of the day enqueues the job.
    expect(await enqueueDailyPurge(t.instance.deps)).toBe(true);
    expect(await enqueueDailyPurge(t.instance.deps)).toBe(false);
    const deadline = Date.now() + 10_000;
    while ((await db.getRepository(VerifiedHandlerEntity).countBy({ id: oldHandler.id })) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    expect(await db.getRepository(VerifiedHandlerEntity).countBy({ id: oldHandler.id })).toBe(0);
    expect(await db.getRepository(HandlerAttemptEntity).countBy({ id: oldHandler.attemptId })).toBe(0);
    expect(await rowsOf(oldCert)).toEqual([]);
    expect(await db.getRepository(VerifiedHandlerEntity).countBy({ id: kept.id })).toBe(1);
    expect(await db.getRepository(HandlerAttemptEntity).countBy({ id: kept.attemptId })).toBe(1);
    expect(await rowsOf(keptCert)).toHaveLength(1);
  });

  it('When a handler waiting for approval opens 续期缴费, then the certificate shows 经办人待审核 and cannot be ticked; a newcomer is told their order goes to review', async () => {
    const org = orgName();
    await verifyHandler(t.instance.deps, 'oAuthPageA');
    await order('oAuthPageA', await bound('oAuthPageA', org));
    const cert = await bound('oAuthPageB', org);
    await verifyHandler(t.instance.deps, 'oAuthPageB');
    const agent = await loginAs(t.instance.app, t.sandbox, 'oAuthPageB', '10.7.0.1');
    const before = await agent.get('/h5/renew');
    expect(before.text).toContain(MESSAGES.needsReview);
    expect(before.text).toContain(`id="c_${cert.id}"`);

    const posted = await agent.post('/h5/renew').type('form').send({ _csrf: csrfOf(before.text), [`c_${cert.id}`]: '1', [`y_${cert.id}`]: '1' });
    expect(posted.status).toBe(403);
    expect(posted.text).toContain('经办人待审核');
    const after = await agent.get('/h5/renew');
    expect(after.text).toContain('经办人待审核');
    expect(after.text).not.toContain(`id="c_${cert.id}"`);
  });

  it('When certificates carry a credit code, a name only or neither, then the organisation key is the code, the normalised name, or the certificate', () => {
    expect(orgKeyOf({ creditCode: '91441400ma4utest1x', organization: '某单位', fingerprintSha256: 'f' })).toBe('cc:91441400MA4UTEST1X');
    expect(orgKeyOf({ creditCode: null, organization: '梅州市某（集团） 有限公司', fingerprintSha256: 'f' })).toBe('org:梅州市某(集团)有限公司');
    expect(orgKeyOf({ creditCode: null, organization: null, fingerprintSha256: 'ab12' })).toBe('cert:ab12');
  });
});
