import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Deps } from '../deps';
import { type CertificateSubject, type KeyAlgorithm } from '../lib/pki/types';
import { type TokenBackend } from '../key-agent/backend';
import { Pkcs11Backend } from '../key-agent/backends/pkcs11';
import { SoftTokenBackend } from '../key-agent/backends/soft-token';
import { loadKeyAgentConfig } from '../key-agent/config';
import { createSoftToken, openSoftTokenStore } from '../key-agent/soft-token-admin';
import { CertificateRepository } from '../modules/certificates/repository';
import { CertificateRefusedError, certificateServiceFor, shanghaiDate } from '../modules/certificates/service';
import { CliError, type CliIo, runCli, withDeps } from './bootstrap';

const USAGE = 'usage: npm run demo:seed';
const PROJECT = '梅州市住房公积金';
/** Printed in the table: these are demo keys on the developer's own disk. */
export const DEMO_PIN = '123456';
const HSM_SO_PIN = '12345678';
const DAY_MS = 86_400_000;

/** 统一社会信用代码 with a correct check digit (GB 32100-2015): 31 characters, weights 3^i mod 31. */
const USCC_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
export function creditCode(first17: string): string {
  const sum = [...first17].reduce((s, ch, i) => s + USCC_CHARS.indexOf(ch) * USCC_WEIGHTS[i], 0);
  return first17 + USCC_CHARS[(31 - (sum % 31)) % 31];
}

interface DemoSpec {
  organization: string;
  /** 9 characters after 91 + 441400 (梅州市): the organisation part of the code. */
  orgCode: string;
  algorithm: KeyAlgorithm;
  backend: 'soft' | 'pkcs11';
  /** Soft tokens get fixed serials, so a second run finds them; the SoftHSM token is found by its label. */
  mediaSerial?: string;
  validity(nowMs: number): { notBefore: Date; notAfter: Date };
}

const validFor = (beforeDays: number, afterDays: number) => (now: number) => ({ notBefore: new Date(now - beforeDays * DAY_MS), notAfter: new Date(now + afterDays * DAY_MS) });

export const DEMO_SPECS: readonly DemoSpec[] = [
  { organization: '梅州市示范建设工程有限公司', orgCode: 'MA5DEM001', algorithm: 'RSA-2048', backend: 'soft', mediaSerial: '9000000000000101', validity: validFor(345, 20) },
  { organization: '梅州市示范物业管理有限公司', orgCode: 'MA5DEM002', algorithm: 'RSA-2048', backend: 'soft', mediaSerial: '9000000000000102', validity: validFor(375, -10) },
  { organization: '梅州市示范会计师事务所', orgCode: 'MA5DEM003', algorithm: 'SM2', backend: 'soft', mediaSerial: '9000000000000103', validity: validFor(100, 265) },
  { organization: '梅州市示范信息技术有限公司', orgCode: 'MA5DEM004', algorithm: 'RSA-2048', backend: 'pkcs11', validity: validFor(30, 335) },
];

export interface SeededRow {
  organization: string;
  mediaSerial: string;
  backend: 'soft' | 'pkcs11';
  algorithm: KeyAlgorithm;
  notBefore: Date;
  notAfter: Date;
  /** What this run did: made key + certificate, or found them on the token. */
  token: 'created' | 'exists' | 'replaced';
  /** Whether this run added the certificate to the certificates table. */
  recorded: 'recorded' | 'already recorded';
}

/**
 * The demo token's label. SoftHSM2's token folder is machine-wide (one /etc/softhsm/softhsm2.conf), so two clones
 * of the project would find and overwrite each other's demo token under one fixed label: each DATA_DIR (each
 * clone's database and built-in CA) gets its own, named by a short hash of the folder's absolute path.
 */
export function hsmLabelFor(dataDir: string): string {
  return `SHUAN-DEMO-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 8)}`;
}

/** SoftHSM2's own tool: finds the demo token or initialises it (a free slot, user PIN and SO PIN). */
function ensureHsmToken(label: string): string {
  const find = () => {
    const out = execFileSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const block of out.split(/^Slot /m)) {
      if (/^\s*Label:\s*(.*?)\s*$/m.exec(block)?.[1] === label) return /^\s*Serial number:\s*(\S+)\s*$/m.exec(block)?.[1] ?? null;
    }
    return null;
  };
  const existing = find();
  if (existing) return existing;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', DEMO_PIN, '--so-pin', HSM_SO_PIN], { stdio: 'pipe' });
  const made = find();
  if (!made) throw new Error(`softhsm2-util did not list the token ${label} after creating it`);
  return made;
}

async function seedOne(deps: Deps, backend: TokenBackend, mediaSerial: string, spec: DemoSpec): Promise<SeededRow> {
  const subject: CertificateSubject = {
    commonName: spec.organization, organization: spec.organization, organizationalUnit: PROJECT,
    creditCode: creditCode(`91441400${spec.orgCode}`), locality: '梅州市', province: '广东省', country: 'CN',
  };
  const onToken = (await backend.listCertificates(mediaSerial)).filter((c) => c.usage === 'sign');
  const confirmed = onToken.find((c) => !c.pending);
  const pending = onToken.find((c) => c.pending);
  if (pending) {
    // An earlier run stopped between install and confirm: finish it rather than make a second key.
    await backend.confirmCertificate(mediaSerial, DEMO_PIN, pending.certificateId);
    return record(deps, spec, mediaSerial, pending.pem, 'exists');
  }
  if (confirmed) {
    try {
      return await record(deps, spec, mediaSerial, confirmed.pem, 'exists');
    } catch (err) {
      // The database was reset (a new built-in CA) or the demo certificate aged past the grace period: the token
      // gets a fresh key and certificate in place of the old one.
      if (!(err instanceof CertificateRefusedError && (err.reason === 'untrusted' || err.reason === 'expired'))) throw err;
    }
  }
  // The key is made on the token (keygen.csr), as a renewal makes it; only the CSR leaves the token.
  const { keyId, csrPem } = await backend.keygenCsr(mediaSerial, DEMO_PIN, spec.algorithm, subject);
  const issued = await deps.ca.issue({
    requestId: `demo-seed:${mediaSerial}:${keyId}`, csrPem, subject, mediaSerial,
    profile: { project: PROJECT, certType: '机构证书', usage: 'sign' },
    validity: spec.validity(deps.clock.nowMs()),
  });
  const installed = await backend.installCertificate(mediaSerial, DEMO_PIN, { keyId, certificatePem: issued.certificatePem, replacesCertificateId: confirmed?.certificateId });
  if (installed.pending) await backend.confirmCertificate(mediaSerial, DEMO_PIN, installed.certificateId);
  return record(deps, spec, mediaSerial, issued.certificatePem, confirmed ? 'replaced' : 'created');
}

/** Recorded the way /capc/ records a key it sees first (chain, status, project rules), so the demo matches real use. */
async function record(deps: Deps, spec: DemoSpec, mediaSerial: string, pem: string, token: SeededRow['token']): Promise<SeededRow> {
  const certificates = certificateServiceFor(deps);
  const parsed = certificates.parse(pem);
  const before = await new CertificateRepository().findByFingerprint(deps.db.manager, parsed.fingerprintSha256);
  await certificates.acceptPresented({ pem, mediaSerial, at: new Date(deps.clock.nowMs()) });
  return {
    organization: spec.organization, mediaSerial, backend: spec.backend, algorithm: parsed.algorithm,
    notBefore: parsed.notBefore, notAfter: parsed.notAfter, token, recorded: before ? 'already recorded' : 'recorded',
  };
}

/** Terminal columns a string takes: CJK and full-width characters count two. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - width(s)));

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => width(r[i]))));
  return rows.map((r) => r.map((c, i) => pad(c, widths[i])).join('  ').trimEnd());
}

function validityText(row: SeededRow, nowMs: number): string {
  const days = Math.round((row.notAfter.getTime() - nowMs) / DAY_MS);
  const state = days >= 0 ? `${days} 天后到期` : `已过期 ${-days} 天`;
  return `${shanghaiDate(row.notBefore)} ~ ${shanghaiDate(row.notAfter)}（${state}）`;
}

/**
 * `npm run demo:seed`: demo organisations of 梅州市住房公积金 with certificates on U-KEYs the local key agent
 * serves (soft tokens in its default folder; a SoftHSM2 token too when the agent would load SoftHSM2), keys made
 * on the tokens, certificates issued by the built-in CA and recorded. Running it again adds nothing.
 */
export async function demoSeed(io: CliIo, argv: string[]): Promise<SeededRow[] | undefined> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean' } } });
  if (values.help) {
    io.out(USAGE);
    return undefined;
  }
  if (io.env.APP_ENV === 'production') throw new CliError('demo:seed refuses APP_ENV=production: it makes demo keys and certificates.');
  const agent = loadKeyAgentConfig(io.env);

  return withDeps(io, { wechat: false }, async (deps) => {
    if (deps.config.ca.mode !== 'sandbox') throw new CliError('demo:seed needs the built-in CA (sandbox mode): the configured RA would issue real certificates.');
    io.out(`Database: ${deps.config.database.kind === 'sqlite' ? deps.config.database.file : 'MySQL (DATABASE_URL)'}`);
    io.out(`Soft tokens: ${agent.softTokenDir}`);
    const rows: SeededRow[] = [];

    const soft = new SoftTokenBackend(agent.softTokenDir);
    const store = openSoftTokenStore(agent.softTokenDir);
    for (const spec of DEMO_SPECS.filter((s) => s.backend === 'soft')) {
      const mediaSerial = spec.mediaSerial!;
      if (!(await store.read(mediaSerial))) await createSoftToken({ dir: agent.softTokenDir, pin: DEMO_PIN, mediaSerial, label: `演示U盾 ${spec.organization.replace(/^梅州市示范/, '')}` });
      rows.push(await seedOne(deps, soft, mediaSerial, spec));
    }

    // SoftHSM2 only when the agent itself would load it: a token the agent never sees would only confuse.
    const hsmSpec = DEMO_SPECS.find((s) => s.backend === 'pkcs11')!;
    if (agent.backends.includes('pkcs11') && /softhsm/i.test(agent.pkcs11Module)) {
      let hsm: Pkcs11Backend | undefined;
      try {
        const label = hsmLabelFor(deps.config.dataDir);
        const serial = ensureHsmToken(label);
        io.out(`SoftHSM2 token: ${label} (this DATA_DIR's own; the SoftHSM2 token folder is shared by the whole machine)`);
        hsm = Pkcs11Backend.open(agent.pkcs11Module);
        rows.push(await seedOne(deps, hsm, serial, hsmSpec));
      } catch (err) {
        io.err(`SoftHSM2 token skipped: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        await hsm?.close();
      }
    } else {
      io.out(`SoftHSM2 token skipped: the key agent here loads ${agent.backends.join(' + ')} only (install softhsm2, and leave KEY_AGENT_BACKENDS unset, for a PKCS#11 demo key).`);
    }

    const now = deps.clock.nowMs();
    io.out('');
    for (const line of table([
      ['单位', '介质编号', 'PIN', '算法', '有效期', 'U-KEY', '证书库'],
      ...rows.map((r) => [
        r.organization, r.mediaSerial, DEMO_PIN, `${r.algorithm}${r.backend === 'pkcs11' ? ' (SoftHSM2)' : ''}`, validityText(r, now),
        { created: '新建', exists: '已存在', replaced: '已换新' }[r.token], r.recorded === 'recorded' ? '已登记' : '已有记录',
      ]),
    ])) io.out(line);
    io.out('');
    const created = rows.filter((r) => r.token !== 'exists').length;
    io.out(created ? `Made ${created} certificate(s); ${rows.length - created} already existed.` : 'Everything already existed: nothing was added.');
    const site = deps.config.publicBaseUrl;
    io.out('Next steps:');
    io.out(`  1. npm start                      (the site, ${site})`);
    io.out(`  2. PUBLIC_BASE_URL=${site} npm run key-agent   (another terminal: serves these U-KEYs on 127.0.0.1:17321 to pages of ${site})`);
    io.out(`  3. open ${site}/capc/, pick a certificate, PIN ${DEMO_PIN}, get a binding code; then ${site}/h5/bind on the phone`);
    return rows;
  });
}

if (require.main === module) runCli(async (io, argv) => void (await demoSeed(io, argv)));
