import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { emulateImage, linkedFilesWritten, nodeBinary, type EmulatedImage } from '../helpers/dockerfile';
import { backend, createTestBackend, TEST_WECHAT, type TestBackendHandle } from '../helpers/harness';
import { makeCa } from '../helpers/pki';
import { freePort } from '../helpers/process';

// The image runs production, and production demands MySQL and Redis (the embedded default is refused there):
// the mysql project runs this file, the embedded one skips it.
const onMysql = backend === 'mysql' ? describe : describe.skip;
const REPO = resolve(__dirname, '../..');
const run = promisify(execFile);
const LAYOUT = ['config', 'dist', 'node_modules', 'package.json', 'public', 'views'];

/** A complete made-up production configuration: every outside party points at a closed port on 127.0.0.1. */
async function productionSettings(dir: string, handle: TestBackendHandle, port: number): Promise<Record<string, string>> {
  writeFileSync(join(dir, 'roots.pem'), (await makeCa('RSA-2048', 'Image Test Root')).cert.pem);
  const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(dir, 'apiclient_key.pem'), pair().privateKey);
  writeFileSync(join(dir, 'pub_key.pem'), pair().publicKey);
  // Start-up must never wait on WeChat, WeChat Pay, FaceID or the RA: nothing listens here.
  const nowhere = `https://127.0.0.1:${await freePort()}`;
  return {
    ...TEST_WECHAT,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: handle.env.DATABASE_URL,
    REDIS_URL: handle.env.REDIS_URL,
    REDIS_PREFIX: handle.env.REDIS_PREFIX,
    PUBLIC_BASE_URL: 'https://ca.example.cn',
    SESSION_SECRET: 'image-test-session-secret-0123456789abcdef',
    METRICS_TOKEN: 'metrics-token-0123456789',
    TRUST_PROXY: 'true',
    LOG_LEVEL: 'warn',
    WECHAT_API_BASE: nowhere,
    CA_RA_BASE_URL: `${nowhere}/ra`,
    CA_RA_CLIENT_ID: 'cam-image-test',
    CA_RA_SECRET: 'ra-secret-0123456789abcdefghijklmnopqrstuv',
    CA_TRUSTED_ROOTS_FILE: join(dir, 'roots.pem'),
    TENCENTCLOUD_SECRET_ID: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
    TENCENTCLOUD_SECRET_KEY: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
    FACEID_RULE_ID: '1',
    LIVENESS_API_BASE: nowhere,
    PII_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
    PII_HMAC_KEY: Buffer.alloc(32, 2).toString('base64'),
    RENEWAL_AUDIT_KEY: Buffer.alloc(32, 3).toString('base64'),
    WECHATPAY_MCHID: '1900007291',
    WECHATPAY_SERIAL_NO: '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC',
    WECHATPAY_PRIVATE_KEY_FILE: join(dir, 'apiclient_key.pem'),
    WECHATPAY_APIV3_KEY: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
    WECHATPAY_PUBLIC_KEY_FILE: join(dir, 'pub_key.pem'),
    WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0114232134912410000000000000',
    WECHATPAY_API_BASE: nowhere,
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
  };
}

/** Bare module names the compiled code requires (`require("x")`), with the files that require them. */
function requiredPackages(dist: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\brequire\("([^".][^"]*)"\)/g)) if (!m[1].startsWith('node:')) found.set(m[1], path);
      }
    }
  };
  walk(dist);
  return found;
}

onMysql('the production image (emulated from the Dockerfile)', () => {
  let work: string;
  let image: EmulatedImage;
  let node: string;
  let handle: TestBackendHandle;
  let env: Record<string, string>;
  let server: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  let url: string;
  const buildLog: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cam-image-'));
    const started = new Date(Date.now() - 1000);
    image = emulateImage(join(REPO, 'Dockerfile'), REPO, join(work, 'layers'), buildLog);
    buildLog.push(`layout built in ${Date.now() - started.getTime() - 1000} ms`);
    expect(linkedFilesWritten(REPO, started)).toEqual([]);
    // node_modules was installed for this machine's Node 20. The addons the server loads (sharp, msgpackr-extract)
    // are Node-API and load on 24; better-sqlite3 is not (built for Node 20 it refuses Node 24) and must not load
    // at all on MySQL: starting on Node 24 proves it. The real image's `npm ci` builds it for 24 anyway.
    node = nodeBinary(image.nodeMajor);
    handle = await createTestBackend();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    mkdirSync(join(work, 'secrets'));
    // The image's own ENV first, then what `docker run -e` would add; PATH finds the image's Node as `node`.
    env = { ...image.env, ...(await productionSettings(join(work, 'secrets'), handle, port)), PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
    const [command, ...args] = image.cmd;
    server = spawn(command === 'node' ? node : command, args, { cwd: image.appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => (output += d));
    server.stderr!.on('data', (d) => (output += d));
    exited = new Promise((r) => server.once('exit', (code) => r(code)));
    for (const deadline = Date.now() + 60_000; ;) {
      if (server.exitCode !== null) throw new Error(`the image's CMD exited with ${server.exitCode}:\n${output}\nBuild:\n${buildLog.join('\n')}`);
      const status = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`no 200 from /healthz within 60 s (last ${status}):\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 240_000); // the compile takes 10-40 s depending on the machine's load

  afterAll(async () => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    await handle?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('When the image is built, then it holds the server and its production dependencies only', () => {
    expect(readdirSync(image.appDir).sort()).toEqual(LAYOUT);
    const modules = join(image.appDir, 'node_modules');
    // Development tools and the key agent's own dependencies (its WebSocket server, PKCS#11 with a native addon).
    // (@types/node stays: mysql2 names it as a peer dependency.)
    for (const absent of ['tsx', 'typescript', 'jest', '@swc/core', 'ws', 'graphene-pk11', 'pkcs11js', 'playwright-core']) {
      expect({ absent, present: existsSync(join(modules, absent)) }).toEqual({ absent, present: false });
    }
    expect(existsSync(join(image.appDir, 'dist/src/key-agent'))).toBe(false);
    // sharp's binary comes as an optional dependency of sharp: pruning must keep it.
    expect(readdirSync(join(modules, '@img')).some((name) => name.startsWith(`sharp-${process.platform}-${process.arch}`))).toBe(true);
  });

  it('When the compiled code requires a package, then the image has it (every server file and every command)', async () => {
    const required = requiredPackages(join(image.appDir, 'dist'));
    expect(required.size).toBeGreaterThan(10);
    const script = 'const { builtinModules, createRequire } = require("node:module"); const r = createRequire(process.argv[1] + "/"); const missing = [];'
      + 'for (const name of JSON.parse(process.argv[2])) { if (builtinModules.includes(name)) continue; try { r.resolve(name); } catch { missing.push(name); } }'
      + 'console.log(JSON.stringify(missing));';
    const { stdout } = await run(node, ['-e', script, join(image.appDir, 'dist'), JSON.stringify([...required.keys()])]);
    const missing = (JSON.parse(stdout) as string[]).map((name) => `${name} (${required.get(name)!.slice(image.appDir.length + 1)})`);
    expect(missing).toEqual([]);
  });

  it('When it starts, then it runs on the Node major of the FROM line and its HEALTHCHECK passes', async () => {
    const { stdout } = await run(node, ['-v']);
    expect(stdout.trim()).toMatch(new RegExp(`^v${image.nodeMajor}\\.`));
    expect(image.healthcheck).toBeDefined();
    await expect(run('sh', ['-c', image.healthcheck!], { cwd: image.appDir, env })).resolves.toBeDefined();
  });

  it('When /capc/ is opened, then the page and every asset it links answer 200', async () => {
    const page = await fetch(`${url}/capc/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'))
      .filter((href) => !href.startsWith('data:'));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    const statuses = await Promise.all(assets.map(async (href) => [href, (await fetch(new URL(href, `${url}/capc/`))).status]));
    expect(statuses).toEqual(assets.map((href) => [href, 200]));
  });

  it('When /h5/ is opened through the proxy, then it redirects to WeChat\'s OAuth page', async () => {
    const res = await fetch(`${url}/h5/`, { redirect: 'manual', headers: { 'X-Forwarded-Proto': 'https' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^https:\/\/open\.weixin\.qq\.com\/connect\/oauth2\/authorize\?appid=wx1234567890abcdef&redirect_uri=https%3A%2F%2Fca\.example\.cn%2F/);
  });

  it('When a development or sandbox page is asked for, then it does not exist', async () => {
    const paths = ['/dev/wechat', '/dev/wechat/api-calls', '/sandbox/wechat-oauth/authorize', '/sandbox/wechat-api/cgi-bin/stable_token', '/sandbox/wechatpay/cashier', '/sandbox/faceid/'];
    const statuses = await Promise.all(paths.map(async (path) => [path, (await fetch(`${url}${path}`, { redirect: 'manual' })).status]));
    expect(statuses).toEqual(paths.map((path) => [path, 404]));
  });

  it('When an operator runs a command from dist/, then it works in the image', async () => {
    const { stdout } = await run(node, ['dist/src/cli/migrate.js'], { cwd: image.appDir, env });
    expect(stdout).toMatch(/up to date/);
  });

  it('When the container is stopped (SIGTERM), then the server exits 0 and wrote nothing beside the code', async () => {
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(readdirSync(image.appDir).sort()).toEqual(LAYOUT);
  });
});
