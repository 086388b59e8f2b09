import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import request from 'supertest';
import { createLogger } from '../../src/lib/logger';
import { UpstreamError } from '../../src/lib/errors';
import { createViews } from '../../src/lib/views';
import { MemoryStore } from '../../src/lib/store/memory';
import { FACEID_RSA_PUBLIC_KEY_PEM } from '../../src/providers/liveness/faceid-crypto';
import { TencentFaceIdProvider } from '../../src/providers/liveness/real';
import { createSandboxFaceIdApp } from '../../src/providers/liveness/sandbox';
import { SandboxFaceIdState } from '../../src/providers/liveness/sandbox-state';
import { type LivenessProvider } from '../../src/providers/liveness/types';
import { createTestBackend, TestClock, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';

/**
 * The real FaceID client (TC3-signed API 3.0 calls over HTTP) against the sandbox FaceID mounted in a
 * listening app, on both backends (the used-BizToken record lives in the shared store). The browser's part
 * (说明 → 拍摄 → 通过/不通过 → back) is driven over HTTP exactly as the page's links and form do.
 */
let handle: TestBackendHandle;
let app: ListeningInstance;
let liveness: LivenessProvider;

const PERSON = { name: '张三', idNumber: '11010519491231002X' };
let seq = 0;
const nextRef = () => `att-${Date.now()}-${++seq}`;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  liveness = app.deps.liveness;
});

afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

async function startCheck(reference = nextRef()) {
  const session = await liveness.start({ ...PERSON, redirectUrl: `${app.url}/h5/liveness/callback?a=1`, reference });
  return { ...session, reference };
}

/** What the tester does on the sandbox page: open it, go to 拍摄, press 通过 or 不通过, press 返回. */
async function walkPage(url: string, decision: 'pass' | 'fail'): Promise<string> {
  const intro = await fetch(url);
  expect(intro.status).toBe(200);
  const introHtml = await intro.text();
  expect(introHtml).toContain('开始核验');
  expect(introHtml).toContain('1****************X');
  expect(introHtml).not.toContain(PERSON.idNumber);
  const capture = await fetch(`${url}?step=capture`);
  expect(await capture.text()).toContain('不通过');
  const decided = await fetch(`${url}/decide`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `decision=${decision}`, redirect: 'manual' });
  expect(decided.status).toBe(302);
  const result = await fetch(url);
  expect(await result.text()).toContain(decision === 'pass' ? '核验完成' : '核验未通过');
  const done = await fetch(`${url}/done`, { redirect: 'manual' });
  expect(done.status).toBe(302);
  return done.headers.get('location')!;
}

describe('liveness through the sandbox FaceID over HTTP', () => {
  it('When the handler passes on the page, then verify (server-side fetch) says passed, with our reference, and the redirect carries only the token', async () => {
    const s = await startCheck();
    expect(s.url).toMatch(new RegExp(`^${app.url}/sandbox/faceid/h5/[0-9A-F-]{36}$`));
    expect(s.expiresAt.getTime() - Date.now()).toBeGreaterThan(7_100_000);
    const back = new URL(await walkPage(s.url, 'pass'));
    expect(back.pathname).toBe('/h5/liveness/callback');
    expect(back.searchParams.get('token')).toBe(s.bizToken);
    expect(back.searchParams.get('a')).toBe('1');
    expect([...back.searchParams.keys()].sort()).toEqual(['a', 'token']);

    const raw = await liveness.result(s.bizToken);
    expect(raw).toEqual({ passed: true, errCode: 0, errMsg: '成功', name: PERSON.name, idNumber: PERSON.idNumber, reference: s.reference });
    await expect(liveness.verify(s.bizToken, { ...PERSON, reference: s.reference })).resolves.toEqual({ passed: true, errCode: 0, errMsg: '成功' });
    // Name and ID number went out under FaceID's field encryption, and the answers came back encrypted.
    const sandbox = app.deps.sandboxFaceId!;
    expect(sandbox.get(s.bizToken)!.fieldsEncrypted).toBe(true);
    expect(sandbox.answers.plain).toBe(0);
    expect(sandbox.answers.encrypted).toBeGreaterThanOrEqual(2);
  });

  it('When the handler presses 不通过, then verify says NOT_PASSED with the provider code', async () => {
    const s = await startCheck();
    await walkPage(s.url, 'fail');
    const v = await liveness.verify(s.bizToken, { ...PERSON, reference: s.reference });
    expect(v).toMatchObject({ passed: false, refusal: 'NOT_PASSED', errCode: 1001 });
  });

  it('When a passed BizToken is verified again (or by 5 requests at once), then exactly one verify passes and the others say ALREADY_USED', async () => {
    const s = await startCheck();
    await walkPage(s.url, 'pass');
    const expected = { ...PERSON, reference: s.reference };
    const all = await Promise.all(Array.from({ length: 5 }, () => liveness.verify(s.bizToken, expected)));
    expect(all.filter((v) => v.passed)).toHaveLength(1);
    expect(all.filter((v) => !v.passed && v.refusal === 'ALREADY_USED')).toHaveLength(4);
    await expect(liveness.verify(s.bizToken, expected)).resolves.toMatchObject({ passed: false, refusal: 'ALREADY_USED' });
  });

  it('When the passed check is for another name, another ID number or another reference, then verify refuses it', async () => {
    for (const [expected, refusal] of [
      [{ ...PERSON, name: '李四' }, 'MISMATCH'],
      [{ ...PERSON, idNumber: '440524198001010013' }, 'MISMATCH'],
      [{ ...PERSON, reference: 'someone-else' }, 'WRONG_REFERENCE'],
    ] as const) {
      const s = await startCheck();
      await walkPage(s.url, 'pass');
      await expect(liveness.verify(s.bizToken, { reference: s.reference, ...expected })).resolves.toMatchObject({ passed: false, refusal });
    }
  });

  it('When the browser comes back with a forged redirect without passing, then verify says PENDING and the token stays usable', async () => {
    const s = await startCheck();
    // The redirect URL is easy to forge; here the tester skips the page and jumps straight to 返回.
    const done = await fetch(`${s.url}/done`, { redirect: 'manual' });
    expect(new URL(done.headers.get('location')!).searchParams.get('token')).toBe(s.bizToken);
    await expect(liveness.verify(s.bizToken, { ...PERSON, reference: s.reference })).resolves.toMatchObject({ passed: false, refusal: 'PENDING', errCode: null });
    await walkPage(s.url, 'pass');
    await expect(liveness.verify(s.bizToken, { ...PERSON, reference: s.reference })).resolves.toMatchObject({ passed: true });
  });

  it('When a decided check is decided again on the page, then the first decision stands', async () => {
    const s = await startCheck();
    await walkPage(s.url, 'fail');
    const again = await fetch(`${s.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=pass', redirect: 'manual' });
    expect(again.status).toBe(404);
    await expect(liveness.result(s.bizToken)).resolves.toMatchObject({ passed: false, errCode: 1001 });
  });

  it('When an unknown BizToken is asked for, then the API answers InvalidParameterValue.BizTokenIllegal, surfaced as an UpstreamError', async () => {
    const err = await liveness.result('00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).upstreamCode).toBe('InvalidParameterValue.BizTokenIllegal');
    const page = await request(app.app.callback()).get('/sandbox/faceid/h5/nope');
    expect(page.status).toBe(404);
    expect(page.text).toContain('核验链接已失效');
  });
});

describe('the sandbox FaceID API checks what Tencent Cloud checks', () => {
  let server: Server;
  let base: string;
  const clock = new TestClock();
  const state = new SandboxFaceIdState('AKIDsandboxTESTSECRETID0000000', 'sandbox-secret-key-0123456789abcdef', '7', 'http://127.0.0.1/sandbox/faceid');
  const provider = (over: Partial<{ secretId: string; secretKey: string; ruleId: string }> = {}, encryptionPublicKeyPem = state.publicKeyPem) => new TencentFaceIdProvider(
    { mode: 'real', secretId: state.secretId, secretKey: state.secretKey, ruleId: state.ruleId, apiBase: `${base}/api`, ...over },
    { store: new MemoryStore(clock), logger: createLogger('silent'), clock, encryptionPublicKeyPem },
  );
  const input = { ...PERSON, redirectUrl: 'http://127.0.0.1/cb', reference: 'r1' };
  const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: UpstreamError) => String(e.upstreamCode));

  beforeAll(async () => {
    server = createServer(createSandboxFaceIdApp(state, { logger: createLogger('silent'), clock, render: createViews() }).callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('When the SecretKey is wrong, then the call is refused with AuthFailure.SignatureFailure', async () => {
    await expect(codeOf(provider({ secretKey: 'wrong-secret-key-0123456789abcdef' }).start(input))).resolves.toBe('AuthFailure.SignatureFailure');
  });

  it('When the SecretId is unknown or the RuleId wrong, then the call is refused with their codes', async () => {
    await expect(codeOf(provider({ secretId: 'AKIDunknown000000000000' }).start(input))).resolves.toBe('AuthFailure.SecretIdNotFound');
    await expect(codeOf(provider({ ruleId: '8' }).start(input))).resolves.toBe('InvalidParameterValue.RuleIdNotExist');
  });

  it('When the fields are encrypted for another key (FaceID\'s real one), then the sandbox cannot open them and refuses', async () => {
    await expect(codeOf(provider({}, FACEID_RSA_PUBLIC_KEY_PEM).start(input))).resolves.toBe('FailedOperation.DecryptSystemError');
  });

  it('When the request is unsigned or replayed 10 minutes late, then it is refused', async () => {
    const unsigned = await fetch(`${base}/api/`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tc-action': 'DetectAuth', 'x-tc-version': '2018-03-01' }, body: '{}' });
    expect((await unsigned.json()).Response.Error.Code).toBe('AuthFailure.InvalidAuthorization');
    clock.advance(-600_000); // the server's clock is 10 minutes behind the client's timestamp
    await expect(codeOf(provider().start(input))).resolves.toBe('AuthFailure.SignatureExpire');
    clock.advance(600_000);
  });

  it('When the 7,200 s of a BizToken have passed, then its page is gone and it can no longer be decided', async () => {
    const s = await provider().start(input);
    expect(s.url.startsWith('http://127.0.0.1/sandbox/faceid/h5/')).toBe(true);
    clock.advance(7_201_000);
    const path = new URL(s.url).pathname.replace('/sandbox/faceid', '');
    expect((await fetch(`${base}${path}`)).status).toBe(404);
    expect((await fetch(`${base}${path}/decide`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=pass', redirect: 'manual' })).status).toBe(404);
    clock.advance(-7_201_000);
  });
});
