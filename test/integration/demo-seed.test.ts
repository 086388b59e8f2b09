import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { creditCode, DEMO_PIN, demoSeed, hsmLabelFor } from '../../src/cli/demo-seed';
import { closeDeps, openDeps } from '../../src/composition';
import { loadConfig } from '../../src/config/load';
import { type Deps } from '../../src/deps';
import { createLogger } from '../../src/lib/logger';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { verifySignature } from '../../src/lib/pki/signature';
import { SoftTokenBackend } from '../../src/key-agent/backends/soft-token';
import { listSoftTokens } from '../../src/key-agent/soft-token-admin';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { createSoftHsm, describeWithSoftHsm, SOFTHSM_MODULE } from '../helpers/softhsm';

/**
 * `npm run demo:seed` against a fresh DATA_DIR (and, on the MySQL project, a fresh schema): soft tokens the key
 * agent serves, certificates from the built-in CA recorded for /capc/, nothing added by a second run.
 */
let handle: TestBackendHandle;
const DAY_MS = 86_400_000;

beforeAll(async () => {
  handle = await createTestBackend();
});
afterAll(async () => {
  await handle?.drop();
});

const baseEnv = () => ({ APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...handle.env });

function io(extra: Record<string, string> = {}): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { env: { ...baseEnv(), KEY_AGENT_BACKENDS: 'soft', ...extra }, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

async function withAppDeps<T>(fn: (deps: Deps) => Promise<T>): Promise<T> {
  const deps = await openDeps(loadConfig(baseEnv()), { logger: createLogger('silent') });
  try {
    return await fn(deps);
  } finally {
    await closeDeps(deps);
  }
}

describe('demo:seed', () => {
  it('When it runs on a fresh data folder, then three demo U-KEYs hold CA-issued certificates that /capc/ knows, and a second run adds nothing', async () => {
    const tokenDir = join(handle.dataDir, 'soft-tokens');
    const first = io();
    const rows = (await demoSeed(first, []))!;

    expect(rows.map((r) => [r.mediaSerial, r.algorithm, r.token, r.recorded])).toEqual([
      ['9000000000000101', 'RSA-2048', 'created', 'recorded'],
      ['9000000000000102', 'RSA-2048', 'created', 'recorded'],
      ['9000000000000103', 'SM2', 'created', 'recorded'],
    ]);
    const now = Date.now();
    expect(Math.round((rows[0].notAfter.getTime() - now) / DAY_MS)).toBe(20);
    expect(Math.round((rows[1].notAfter.getTime() - now) / DAY_MS)).toBe(-10);
    expect(first.lines.join('\n')).toMatch(/9000000000000101 +123456 +RSA-2048/);
    expect(first.lines.join('\n')).toContain('http://localhost:3000/capc/');

    const tokens = await listSoftTokens(tokenDir);
    expect(tokens.map((t) => [t.mediaSerial, t.certificates])).toEqual([['9000000000000101', 1], ['9000000000000102', 1], ['9000000000000103', 1]]);

    const recorded = await withAppDeps((deps) => deps.db.manager.find(CertificateEntity, { order: { mediaSerial: 'ASC' } }));
    expect(recorded.map((c) => [c.mediaSerial, c.project, c.certType, c.algorithm, c.status])).toEqual([
      ['9000000000000101', '梅州市住房公积金', '机构证书', 'RSA-2048', 'valid'],
      ['9000000000000102', '梅州市住房公积金', '机构证书', 'RSA-2048', 'valid'],
      ['9000000000000103', '梅州市住房公积金', '机构证书', 'SM2', 'valid'],
    ]);
    expect(recorded[0]).toMatchObject({ organization: '梅州市示范建设工程有限公司', creditCode: creditCode('91441400MA5DEM001') });

    // The key agent's soft-token backend signs with the key on the token, under the demo PIN.
    const agent = new SoftTokenBackend(tokenDir);
    const [onToken] = await agent.listCertificates('9000000000000103');
    const data = Buffer.from('demo challenge');
    const { signature } = await agent.sign('9000000000000103', DEMO_PIN, onToken.certificateId, data);
    expect(verifySignature(parseCertificate(onToken.pem).spkiDer, data, signature)).toBe(true);

    const second = io();
    const again = (await demoSeed(second, []))!;
    expect(again.map((r) => [r.token, r.recorded])).toEqual(Array(3).fill(['exists', 'already recorded']));
    expect(second.lines).toContain('Everything already existed: nothing was added.');
    expect((await listSoftTokens(tokenDir)).map((t) => t.certificates)).toEqual([1, 1, 1]);
    expect(await withAppDeps((deps) => deps.db.manager.count(CertificateEntity))).toBe(3);
  });

  it('When APP_ENV is production, then it refuses before touching anything', async () => {
    await expect(demoSeed(io({ APP_ENV: 'production' }), [])).rejects.toThrow(/refuses APP_ENV=production/);
  });

  it('When 统一社会信用代码 are made, then their check digits are those of GB 32100', () => {
    // A published code (国家市场监督管理总局 example): 91350100M000100Y43.
    expect(creditCode('91350100M000100Y4')).toBe('91350100M000100Y43');
  });
});

/** demo:seed as `npm run demo:seed` runs it (a child: SoftHSM2 reads SOFTHSM2_CONF from the real environment). */
function runSeed(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(__dirname, '../../node_modules/tsx/dist/cli.mjs'), 'src/cli/demo-seed.ts'], { cwd: resolve(__dirname, '../..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => done({ code, out }));
  });
}

describeWithSoftHsm('demo:seed with SoftHSM2', () => {
  it('When two clones (two DATA_DIRs) seed on one machine-wide SoftHSM2, then each gets its own demo token and neither overwrites the other', async () => {
    const hsm = createSoftHsm([]);
    const clone = await createTestBackend();
    try {
      const envOf = (h: TestBackendHandle) => ({
        APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...h.env,
        PATH: process.env.PATH ?? '', SOFTHSM2_CONF: hsm.conf, KEY_AGENT_PKCS11_MODULE: SOFTHSM_MODULE!, LOG_LEVEL: 'warn',
      });
      expect(hsmLabelFor(handle.dataDir)).not.toBe(hsmLabelFor(clone.dataDir));
      expect(hsmLabelFor(handle.dataDir)).toMatch(/^SHUAN-DEMO-[0-9a-f]{8}$/);
      const first = await runSeed(envOf(handle));
      expect(first.code).toBe(0);
      const other = await runSeed(envOf(clone));
      expect(other.code).toBe(0);
      expect(other.out).toMatch(/梅州市示范信息技术有限公司 +[0-9a-f]{16} +123456 +RSA-2048 \(SoftHSM2\).*新建/);
      // The first clone's token is still its own: nothing replaced, nothing added.
      const again = await runSeed(envOf(handle));
      expect(again.code).toBe(0);
      expect(again.out).toContain('Everything already existed: nothing was added.');
      const slots = execFileSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8', env: { ...process.env, SOFTHSM2_CONF: hsm.conf } });
      const labels = [...slots.matchAll(/^\s*Label:\s*(SHUAN-DEMO-\S+)\s*$/gm)].map((m) => m[1]).sort();
      expect(labels).toEqual([hsmLabelFor(handle.dataDir), hsmLabelFor(clone.dataDir)].sort());
      expect(first.out).toContain(`SoftHSM2 token: ${hsmLabelFor(handle.dataDir)}`);
    } finally {
      await clone.drop();
      hsm.cleanup();
    }
  }, 120_000);


  it('When SoftHSM2 is installed, then a fourth demo key is made on a PKCS#11 token, once', async () => {
    const hsm = createSoftHsm([]);
    try {
      const env = { ...baseEnv(), PATH: process.env.PATH ?? '', SOFTHSM2_CONF: hsm.conf, KEY_AGENT_PKCS11_MODULE: SOFTHSM_MODULE!, LOG_LEVEL: 'warn' };
      const run = () => new Promise<{ code: number | null; out: string }>((done) => {
        const child = spawn(process.execPath, [resolve(__dirname, '../../node_modules/tsx/dist/cli.mjs'), 'src/cli/demo-seed.ts'], { cwd: resolve(__dirname, '../..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('exit', (code) => done({ code, out }));
      });
      const first = await run();
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/梅州市示范信息技术有限公司 +[0-9a-f]{16} +123456 +RSA-2048 \(SoftHSM2\).*新建/);
      const second = await run();
      expect(second.code).toBe(0);
      expect(second.out).toContain('Everything already existed: nothing was added.');
    } finally {
      hsm.cleanup();
    }
  }, 60_000);
});
