import Router from '@koa/router';
import { HandlerAttemptEntity, VerifiedHandlerEntity } from '../../src/modules/handlers/entities';
import { requireVerifiedHandler } from '../../src/modules/handlers/routes';
import { addYears, HandlerService } from '../../src/modules/handlers/service';
import { requireWechatUser } from '../../src/modules/oauth/middleware';
import { OAuthService } from '../../src/modules/oauth/service';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { backend, createTestBackend, startSandboxWechat, TEST_WECHAT, type SandboxWechatServer, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';

/**
 * 经办人活体鉴别认证 end to end over HTTP: the H5 pages in-process (supertest, a phone's cookie jar), the real
 * FaceID client calling the sandbox FaceID mounted in the listening app, and the sandbox page driven as the
 * tester's browser would (说明 → 拍摄 → 通过/不通过 → 返回).
 */
let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;
let app: ListeningInstance;

const PERSON = { name: '张三', idNumber: '11010519491231002X' };
let ipSeq = 0;
const phone = (openid: string) => loginAs(app.app, sandbox, openid, `10.7.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);

beforeAll(async () => {
  handle = await createTestBackend();
  sandbox = await startSandboxWechat();
  app = await startListening(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, TRUST_PROXY: 'true' } });
  // A business page behind the guard, as the renewal pages mount it (added before any agent is built).
  const business = new Router();
  business.get('/h5/test-business', requireWechatUser(new OAuthService(app.deps)), requireVerifiedHandler(app.deps), (ctx) => {
    ctx.body = `business page for ${ctx.state.verifiedHandler!.nameMasked}`;
  });
  business.post('/h5/test-business', requireWechatUser(new OAuthService(app.deps)), requireVerifiedHandler(app.deps), (ctx) => {
    ctx.body = 'done';
  });
  app.app.use(business.routes());
});
afterAll(async () => {
  await app?.close();
  await sandbox?.close();
  await handle?.drop();
});

async function consent(agent: Agent) {
  const page = await agent.get('/h5/handler');
  expect(page.status).toBe(200);
  const res = await agent.post('/h5/handler/consent').type('form').send({ _csrf: csrfOf(page.text), decision: 'agree' });
  expect(res.status).toBe(302);
  expect(res.headers.location).toBe('/h5/handler/form');
}

async function submitForm(agent: Agent, fields: { name: string; idNumber: string }) {
  const page = await agent.get('/h5/handler/form');
  expect(page.status).toBe(200);
  return agent.post('/h5/handler/form').type('form').send({ _csrf: csrfOf(page.text), ...fields });
}

/** Starts a check through the pages; returns the sandbox FaceID page URL the phone was sent to. */
async function startCheck(agent: Agent, person = PERSON): Promise<string> {
  const res = await submitForm(agent, person);
  expect(res.status).toBe(302);
  expect(res.headers.location).toMatch(new RegExp(`^${app.url}/sandbox/faceid/h5/`));
  return res.headers.location;
}

/** The tester on the sandbox FaceID page; returns the path + query the provider sends the phone back to. */
async function walkFaceId(url: string, decision: 'pass' | 'fail'): Promise<string> {
  expect((await fetch(url)).status).toBe(200);
  await fetch(`${url}?step=capture`);
  const decided = await fetch(`${url}/decide`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `decision=${decision}`, redirect: 'manual' });
  expect(decided.status).toBe(302);
  return backTo(url);
}
async function backTo(url: string): Promise<string> {
  const done = await fetch(`${url}/done`, { redirect: 'manual' });
  const back = new URL(done.headers.get('location')!);
  expect(back.pathname).toBe('/h5/handler/callback');
  return back.pathname + back.search;
}

const service = () => new HandlerService(app.deps);
const outcomeOf = (html: string) => /data-outcome="([a-z]+)"/.exec(html)?.[1];

describe(`handler liveness pages (${backend})`, () => {
  it('When the handler has not agreed on the consent screen, then the form is not shown and a post to it is sent back to consent', async () => {
    const agent = await phone('oHandlerNoConsent');
    const consentPage = await agent.get('/h5/handler');
    expect(consentPage.text).toContain('同意并继续');
    expect(consentPage.text).toContain('不保存您的人脸照片或视频');
    expect(consentPage.text).toContain('人工审核');
    expect((await agent.get('/h5/handler/form')).headers.location).toBe('/h5/handler');
    const post = await agent.post('/h5/handler/form').type('form').send({ _csrf: csrfOf(consentPage.text), ...PERSON });
    expect(post.status).toBe(302);
    expect(post.headers.location).toBe('/h5/handler');
    const declined = await agent.post('/h5/handler/consent').type('form').send({ _csrf: csrfOf(consentPage.text), decision: 'decline' });
    expect(outcomeOf(declined.text)).toBe('declined');
    expect(declined.text).toContain('95105813');
    expect((await agent.get('/h5/handler/form')).headers.location).toBe('/h5/handler');
    expect(await app.deps.db.getRepository(HandlerAttemptEntity).count({ where: { openid: 'oHandlerNoConsent' } })).toBe(0);
  });

  it('When the ID number has a wrong check digit or the name is empty, then the form says so in Chinese and nothing is started', async () => {
    const agent = await phone('oHandlerBadId');
    await consent(agent);
    const res = await submitForm(agent, { name: '', idNumber: '110105194912310021' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('身份证号码校验位不正确');
    expect(res.text).toContain('请输入姓名');
    const short = await submitForm(agent, { name: '张三', idNumber: '1101051949' });
    expect(short.text).toContain('身份证号码应为18位');
    expect(await app.deps.db.getRepository(HandlerAttemptEntity).count({ where: { openid: 'oHandlerBadId' } })).toBe(0);
  });

  it('When the handler passes the sandbox check, then the callback records a verified handler, shows masked values only, and the DB holds nothing in plain', async () => {
    const agent = await phone('oHandlerPass');
    await consent(agent);
    const url = await startCheck(agent, { name: ' 张 三', idNumber: '11010519491231002x' });
    const back = await walkFaceId(url, 'pass');
    const res = await agent.get(back);
    expect(res.status).toBe(200);
    expect(outcomeOf(res.text)).toBe('passed');
    expect(res.text).toContain('认证成功');
    expect(res.text).toContain('张*');
    expect(res.text).toContain('1****************X');
    expect(res.text).not.toContain(PERSON.idNumber);
    // Reloading the callback shows the same verdict (the token is used once; our record answers).
    expect(outcomeOf((await agent.get(back)).text)).toBe('passed');
    expect((await agent.get('/h5/handler')).text).toContain('已认证');

    const attempts = await app.deps.db.query('SELECT * FROM handler_attempts WHERE openid = ?', ['oHandlerPass']);
    const handlers = await app.deps.db.query('SELECT * FROM verified_handlers WHERE openid = ?', ['oHandlerPass']);
    expect(attempts).toHaveLength(1);
    expect(handlers).toHaveLength(1);
    const raw = JSON.stringify([attempts, handlers]);
    expect(raw).not.toContain(PERSON.name);
    expect(raw).not.toContain(PERSON.idNumber);
    expect(raw).not.toContain(PERSON.idNumber.slice(6, 14));
    const handler = await app.deps.db.getRepository(VerifiedHandlerEntity).findOneByOrFail({ openid: 'oHandlerPass' });
    expect(handler).toMatchObject({ nameMasked: '张*', idNumberMasked: '1****************X', method: 'liveness' });
    expect(handler.idNumberIndex).toBe(app.deps.pii.index(PERSON.idNumber, 'id-number'));
    expect(app.deps.pii.decrypt(handler.idNumberSealed, 'id-number', { actor: 'test', reason: 'assert' })).toBe(PERSON.idNumber);
    expect(handler.purgeAfter.getTime()).toBe(addYears(handler.verifiedAt, 5).getTime());
    const attempt = await app.deps.db.getRepository(HandlerAttemptEntity).findOneByOrFail({ openid: 'oHandlerPass' });
    expect(attempt).toMatchObject({ state: 'PASSED', refusal: null, sandbox: true });
    expect(attempt.consentedAt.getTime()).toBeLessThanOrEqual(attempt.createdAt.getTime());
  });

  it('When the phone comes back with a forged callback without passing, then it is not verified and the page says it is still processing', async () => {
    const agent = await phone('oHandlerForged');
    await consent(agent);
    const url = await startCheck(agent);
    const back = await backTo(url);
    const res = await agent.get(`${back}&result=pass&ErrCode=0`);
    expect(outcomeOf(res.text)).toBe('pending');
    expect(res.text).toContain('刷新');
    expect(await service().verifiedOf('oHandlerForged')).toBeNull();
    // The tester then really passes: the same callback (刷新) now verifies.
    await walkFaceId(url, 'pass');
    expect(outcomeOf((await agent.get(back)).text)).toBe('passed');
  });

  it('When the check fails, then the page says so with a retry, and a new attempt can pass', async () => {
    const agent = await phone('oHandlerRetry');
    await consent(agent);
    const failed = await agent.get(await walkFaceId(await startCheck(agent), 'fail'));
    expect(outcomeOf(failed.text)).toBe('failed');
    expect(failed.text).toContain('活体检测未通过');
    expect(failed.text).toContain('/h5/handler/form');
    expect(await service().verifiedOf('oHandlerRetry')).toBeNull();
    const passed = await agent.get(await walkFaceId(await startCheck(agent), 'pass'));
    expect(outcomeOf(passed.text)).toBe('passed');
    const states = (await app.deps.db.getRepository(HandlerAttemptEntity).find({ where: { openid: 'oHandlerRetry' }, order: { id: 'ASC' } })).map((a) => [a.state, a.refusal]);
    expect(states).toEqual([['FAILED', 'NOT_PASSED'], ['PASSED', null]]);
  });

  it("When the /done link of an earlier failed attempt is opened after a later attempt passed, then the page shows the handler's current state (已认证), not 认证未通过", async () => {
    const agent = await phone('oHandlerStaleDone');
    await consent(agent);
    const failedBack = await walkFaceId(await startCheck(agent), 'fail');
    expect(outcomeOf((await agent.get(failedBack)).text)).toBe('failed');
    expect(outcomeOf((await agent.get(await walkFaceId(await startCheck(agent), 'pass'))).text)).toBe('passed');
    const stale = await agent.get(failedBack);
    expect(stale.status).toBe(200);
    expect(outcomeOf(stale.text)).toBe('passed');
    expect(stale.text).toContain('已认证');
    expect(stale.text).not.toContain('>认证未通过<');
    expect(stale.text).toContain('此前一次认证未通过');
  });

  it('When the callback is opened five times at once after passing, then one verified handler is recorded and no page says failed', async () => {
    const agent = await phone('oHandlerDoubleTap');
    await consent(agent);
    const back = await walkFaceId(await startCheck(agent), 'pass');
    const pages = await Promise.all(Array.from({ length: 5 }, () => agent.get(back)));
    const outcomes = pages.map((p) => outcomeOf(p.text));
    expect(outcomes).toContain('passed');
    expect(outcomes).not.toContain('failed');
    expect(await app.deps.db.getRepository(VerifiedHandlerEntity).count({ where: { openid: 'oHandlerDoubleTap' } })).toBe(1);
    expect(outcomeOf((await agent.get(back)).text)).toBe('passed');
  });

  it('When an openid starts a sixth check in one day, then it is refused with the limit and the 人工审核 alternative', async () => {
    const agent = await phone('oHandlerLimit');
    await consent(agent);
    for (let i = 0; i < 5; i++) await startCheck(agent);
    const sixth = await submitForm(agent, PERSON);
    expect(sixth.status).toBe(429);
    expect(sixth.text).toContain('今日认证次数已达上限（5 次）');
    expect(sixth.text).toContain('改为上传证件人工审核');
    expect(sixth.text).toContain('href="/h5/handler/documents"');
    expect(await app.deps.db.getRepository(HandlerAttemptEntity).count({ where: { openid: 'oHandlerLimit' } })).toBe(5);
  });

  it("When someone opens the callback with another openid's reference, then it is refused and neither is verified", async () => {
    const victim = await phone('oHandlerVictim');
    await consent(victim);
    const back = await walkFaceId(await startCheck(victim), 'pass');
    const thief = await phone('oHandlerThief');
    const res = await thief.get(back);
    expect(res.status).toBe(404);
    expect(res.text).toContain('未找到该认证记录');
    expect(await service().verifiedOf('oHandlerThief')).toBeNull();
    expect(await service().verifiedOf('oHandlerVictim')).toBeNull();
    expect((await thief.get('/h5/handler/callback?ref=')).status).toBe(404);
    // The victim's own callback still works: the token was not used up by the refusal.
    expect(outcomeOf((await victim.get(back)).text)).toBe('passed');
  });

  it('When an unverified handler opens a guarded business page, then it is sent to the check with next, and returns there after passing', async () => {
    const agent = await phone('oHandlerGuard');
    const first = await agent.get('/h5/test-business?cert=1');
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe(`/h5/handler?next=${encodeURIComponent('/h5/test-business?cert=1')}`);
    expect((await agent.post('/h5/test-business')).status).toBe(403);
    const consentPage = await agent.get(first.headers.location);
    expect(consentPage.text).toContain('首次办理需要进行经办人活体鉴别认证');
    await agent.post('/h5/handler/consent').type('form').send({ _csrf: csrfOf(consentPage.text), decision: 'agree' });
    const done = await agent.get(await walkFaceId(await startCheck(agent), 'pass'));
    expect(done.text).toMatch(/href="\/h5\/test-business\?cert=1" [^>]*data-next/);
    const business = await agent.get('/h5/test-business?cert=1');
    expect(business.status).toBe(200);
    expect(business.text).toBe('business page for 张*');
  });

  it('When an outside next is given, then it is ignored', async () => {
    const agent = await phone('oHandlerNext');
    await agent.get('/h5/handler?next=https://evil.example/');
    await agent.get('/h5/handler?next=//evil.example/h5/');
    await consent(agent);
    const done = await agent.get(await walkFaceId(await startCheck(agent), 'pass'));
    expect(done.text).not.toContain('data-next');
  });

  it('When the retention date has passed, then purgeExpired deletes the verified handler and its attempts, and nothing younger', async () => {
    const agent = await phone('oHandlerPurge');
    await consent(agent);
    await agent.get(await walkFaceId(await startCheck(agent), 'pass'));
    const handler = (await service().verifiedOf('oHandlerPurge'))!;
    await service().purgeExpired(new Date(handler.purgeAfter.getTime() - 1000));
    expect(await service().verifiedOf('oHandlerPurge')).not.toBeNull();
    const after = await service().purgeExpired(handler.purgeAfter);
    // Each call reports what it deleted itself: the second one deleted this handler (the first, only older ones).
    expect(after.handlers).toBeGreaterThanOrEqual(1);
    expect(await service().verifiedOf('oHandlerPurge')).toBeNull();
    expect(await app.deps.db.getRepository(HandlerAttemptEntity).count({ where: { openid: 'oHandlerPurge' } })).toBe(0);
  });
});
