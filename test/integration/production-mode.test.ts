import { generateKeyPairSync } from 'node:crypto';
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
    // WeChat Pay key files as a merchant downloads them (never contacted: no payment happens here).
    const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    writeFileSync(join(rootsDir, 'apiclient_key.pem'), pair().privateKey);
    writeFileSync(join(rootsDir, 'pub_key.pem'), pair().publicKey);
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
        TENCENTCLOUD_SECRET_ID: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
        TENCENTCLOUD_SECRET_KEY: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
        FACEID_RULE_ID: '1',
        PII_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
        PII_HMAC_KEY: Buffer.alloc(32, 2).toString('base64'),
        RENEWAL_AUDIT_KEY: Buffer.alloc(32, 3).toString('base64'),
        WECHATPAY_MCHID: '1900007291',
        WECHATPAY_SERIAL_NO: '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC',
        WECHATPAY_PRIVATE_KEY_FILE: join(rootsDir, 'apiclient_key.pem'),
        WECHATPAY_APIV3_KEY: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
        WECHATPAY_PUBLIC_KEY_FILE: join(rootsDir, 'pub_key.pem'),
        WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0114232134912410000000000000',
        WECHATPAY_NOTIFY_URL: 'https://ca.example.cn/pay/wechat/notify',
        TRANSFER_PAYEE_NAME: '广东数安时代科技股份有限公司',
        TRANSFER_PAYEE_BANK: '中国建设银行广州天河支行',
        TRANSFER_PAYEE_ACCOUNT: '44050110000000000001',
        NUONUO_APP_KEY: 'nuonuoappkey01',
        NUONUO_APP_SECRET: 'nuonuo-app-secret-0123',
        NUONUO_ACCESS_TOKEN: 'nuonuo-access-token-0123',
        NUONUO_CLERK: '王开票',
        INVOICE_SELLER_NAME: '广东数安时代科技股份有限公司',
        INVOICE_SELLER_TAX_ID: '91440101MA5CYQ8X3X',
        SMTP_HOST: 'smtp.example.cn',
        SMTP_FROM: '数安发票 <invoice@example.cn>',
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
    for (const path of ['/dev/wechat', '/sandbox/wechat-oauth/authorize', '/sandbox/wechat-api/cgi-bin/stable_token', '/sandbox/wechatpay/cashier']) {
      expect((await request(app).get(path)).status).toBe(404);
    }
    expect(prod.config.wechat.mode).toBe('real');
    expect(prod.deps.sandboxWechat).toBeUndefined();
    expect(prod.deps.sandboxWechatPay).toBeUndefined();
    expect(prod.config.wechatpay).toMatchObject({ mode: 'real', apiBase: 'https://api.mch.weixin.qq.com' });
  });

  it('When production serves a page, then it sends HSTS, and its forms may go on to WeChat OAuth and the FaceID pages only; /healthz tells the public only ok', async () => {
    const app = prod.app.callback();
    const page = await request(app).get('/capc/').set('X-Forwarded-Proto', 'https');
    expect(page.status).toBe(200);
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(page.headers['content-security-policy']).toContain("form-action 'self' https://open.weixin.qq.com https://*.qq.com");
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await request(app).get('/healthz').set('Authorization', 'Bearer metrics-token-0123456789')).body).toMatchObject({ database: { ok: true }, cache: { ok: true } });
  });

  it('When production runs, then /metrics needs the bearer token and OAuth goes to WeChat itself', async () => {
    const app = prod.app.callback();
    expect((await request(app).get('/metrics')).status).toBe(404);
    const login = await request(app).get('/h5/').set('X-Forwarded-Proto', 'https');
    expect(login.status).toBe(302);
    expect(String(login.headers['set-cookie'])).toMatch(/cam\.oauth=.*; secure; httponly/i);
    expect(login.headers.location).toMatch(/^https:\/\/open\.weixin\.qq\.com\/connect\/oauth2\/authorize\?appid=wx1234567890abcdef&redirect_uri=https%3A%2F%2Fca\.example\.cn%2Foauth%2Fcallback/);
  });
});
