import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { makeCa } from '../helpers/pki';
import { backend, createTestBackend, startInstance, startSandboxWechat, TEST_WECHAT, type SandboxWechatServer, type TestBackendHandle, type TestInstance } from '../helpers/harness';

// Production needs MySQL and Redis (the embedded default is refused there), so this runs on the mysql backend only.
const onMysql = backend === 'mysql' ? describe : describe.skip;

onMysql('APP_ENV=production', () => {
  let sandbox: SandboxWechatServer;
  let handle: TestBackendHandle;
  let prod: TestInstance;
  let rootsDir: string;
  let rootPem: string;

  beforeAll(async () => {
    sandbox = await startSandboxWechat();
    handle = await createTestBackend();
    // A real root bundle, as production demands one (CA_TRUSTED_ROOTS_FILE); the RA itself is never contacted.
    rootsDir = mkdtempSync(join(tmpdir(), 'prod-roots-'));
    rootPem = (await makeCa('RSA-2048', 'Production Test Root')).cert.pem;
    writeFileSync(join(rootsDir, 'roots.pem'), rootPem);
    prod = await startInstance(handle, {
      env: {
        ...TEST_WECHAT,
        APP_ENV: 'production',
        PUBLIC_BASE_URL: 'https://ca.example.cn',
        METRICS_TOKEN: 'metrics-token-0123456789',
        TRUST_PROXY: 'true',
        WECHAT_API_BASE: sandbox.url,
        CA_RA_BASE_URL: 'https://ra.example.cn/api/v1',
        CA_RA_CLIENT_ID: 'cam-production-test',
        CA_RA_SECRET: 'ra-secret-0123456789abcdefghijklmnopqrstuv',
        CA_TRUSTED_ROOTS_FILE: join(rootsDir, 'roots.pem'),
      },
    });
  });
  afterAll(async () => {
    await prod?.close();
    await handle?.drop();
    await sandbox?.close();
    if (rootsDir) rmSync(rootsDir, { recursive: true, force: true });
  });

  it('When production runs, then the CA is the RA client and its anchors are the trusted roots file', async () => {
    expect(prod.deps.ca.mode).toBe('ra');
    expect(await prod.deps.ca.trustAnchors()).toEqual({ roots: [rootPem], intermediates: [] });
  });

  it('When production runs, then no sandbox API, sandbox OAuth page or simulator is mounted', async () => {
    const app = prod.app.callback();
    for (const path of ['/dev/wechat', '/sandbox/wechat-oauth/authorize', '/sandbox/wechat-api/cgi-bin/stable_token']) {
      expect((await request(app).get(path)).status).toBe(404);
    }
    expect(prod.config.wechat.mode).toBe('real');
    expect(prod.deps.sandboxWechat).toBeUndefined();
  });

  it('When production runs, then /metrics needs the bearer token and OAuth goes to WeChat itself', async () => {
    const app = prod.app.callback();
    expect((await request(app).get('/metrics')).status).toBe(404);
    const login = await request(app).get('/h5/').set('X-Forwarded-Proto', 'https');
    expect(login.status).toBe(302);
    expect(String(login.headers['set-cookie'])).toMatch(/cam\.sid=.*; secure; httponly/i);
    expect(login.headers.location).toMatch(/^https:\/\/open\.weixin\.qq\.com\/connect\/oauth2\/authorize\?appid=wx1234567890abcdef&redirect_uri=https%3A%2F%2Fca\.example\.cn%2Foauth%2Fcallback/);
  });
});
