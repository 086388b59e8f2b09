import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { type Deps } from '../src/deps';
import { inTransaction } from '../src/lib/db/transaction';
import { createLogger } from '../src/lib/logger';
import { buildCsr } from '../src/lib/pki/csr';
import { createSoftSigner, generateSoftKeyPair, type SoftKeyPair } from '../src/lib/pki/soft-keys';
import { type KeyAlgorithm } from '../src/lib/pki/types';
import { BindingRepository } from '../src/modules/binding/repository';
import { type Certificate } from '../src/modules/certificates/entities';
import { certificateServiceFor } from '../src/modules/certificates/service';
import { PriceRuleRepository } from '../src/modules/orders/price-rules';
import { OrderRepository } from '../src/modules/orders/repository';
import { OrderService } from '../src/modules/orders/service';
import { RenewalInstaller } from '../src/modules/renewals/install';
import { type PcSession } from '../src/modules/renewals/pc-session';
import { RenewalService } from '../src/modules/renewals/service';
import { type IssueRequest } from '../src/providers/ca/types';
import { createBenchBackend } from './backend';

/**
 * npm run bench:renew [-- --count 100 --warmup 10 --concurrent 50 --only RSA-2048,SM2]
 * Server-side time of one PC renewal on MySQL + Redis (a throw-away schema and prefix), one at a time:
 *   (a) baseline: the issuing CA key signing 1 KB;
 *   (b) baseline: BuiltInCa.issue of a fresh CSR (parse + CSR signature, build, CA signature, one INSERT);
 *   (c) the renewal: RenewalService.start (entitlement, old chain + CA status, renewal row, lease/challenge UPDATE,
 *       audit append) + submitCsr (challenge taken, CSR and PoP checked, chain + status again, validity stacking,
 *       CA issue — for SM2 also the KMC's key pair, encryption certificate and envelope —, the issuance recorded,
 *       audit appends, lease released) + installed (the INSTALLED transaction, audit append, outbox enqueue).
 * Commits counted in (c): RSA 11 (start: renewal INSERT + lease UPDATE + 2 audit; csr: take UPDATE, 2 audit, CA INSERT,
 * record tx, lease UPDATE; installed: 1 tx + 1 audit) — SM2 adds the KMC's transaction. Not counted: the client's
 * work (key generation, CSR and PoP signatures: the token's), and the order/payment set-up.
 * Then --concurrent renewals of different certificates at once: errors and renewals per second.
 */
const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '10' },
    concurrent: { type: 'string', default: '50' },
    only: { type: 'string', default: 'RSA-2048,SM2' },
  },
});
const COUNT = Number(args.count);
const WARMUP = Number(args.warmup);
const CONCURRENT = Number(args.concurrent);
const ALGORITHMS = args.only!.split(',') as KeyAlgorithm[];
const TARGET_MS: Partial<Record<KeyAlgorithm, number>> = { 'RSA-2048': 20, SM2: 30 };
const DAY = 86_400_000;

interface Figures { meanMs: number; p50Ms: number; p99Ms: number }
function figures(samples: number[]): Figures {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { meanMs: round(s.reduce((a, b) => a + b, 0) / s.length), p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
}

interface Prepared { cert: Certificate; key: SoftKeyPair; newKey: SoftKeyPair; csrPem: string; mediaSerial: string }
let seq = 0;
/** Per-phase samples of the last algorithm's sequential run (start, csr, installed). */
const phases = { start: [] as number[], csr: [] as number[], installed: [] as number[] };
let recordPhases = false;

/** An old certificate issued by the app's CA, known, bound, with a PAID one-year order; the new key and CSR made beforehand (the token's work). */
async function prepare(deps: Deps, algorithm: KeyAlgorithm): Promise<Prepared> {
  const n = ++seq;
  const now = Date.now();
  const key = generateSoftKeyPair(algorithm);
  const sign = createSoftSigner(algorithm, key.privateKeyPkcs8Der);
  const organization = `梅州续期压测单位${n}`;
  const subject = { commonName: organization, organization, creditCode: `91441400MA4U${String(n).padStart(6, '0')}`, country: 'CN' };
  const mediaSerial = `95${String(n).padStart(14, '0')}`;
  const issued = await deps.ca.issue({
    requestId: `bench-old-${randomBytes(8).toString('hex')}`, csrPem: await buildCsr({ subject, spkiDer: key.spkiDer, sign: async (t) => sign(t) }), subject,
    profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' }, validity: { notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) }, mediaSerial,
  } as IssueRequest);
  const at = new Date(now);
  const cert = await certificateServiceFor(deps).acceptPresented({ pem: issued.certificatePem, mediaSerial, at });
  const openid = `oBenchRenew${n}x${now % 1e6}`;
  await inTransaction(deps.db, async (em) => {
    await new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: false }, at);
    const rule = await new PriceRuleRepository().require(em, cert.project, cert.certType, at);
    await new OrderRepository().insert(em, { orderNo: `RB${now}${n}`.slice(0, 32), openid, totalFen: rule.unitPriceFen, currency: 'CNY', years: 1, expiresAt: new Date(now + 7_200_000), sandbox: false, createdAt: at },
      [{ certificateId: cert.id, years: 1, unitPriceFen: rule.unitPriceFen, amountFen: rule.unitPriceFen, priceRuleId: rule.id }]);
  });
  await new OrderService(deps).markPaid(`RB${now}${n}`.slice(0, 32), { method: 'wechatpay', amountFen: (await new PriceRuleRepository().require(deps.db.manager, cert.project, cert.certType, at)).unitPriceFen, transactionId: `4200BENCH${n}`, paidAt: at });
  const newKey = generateSoftKeyPair(algorithm);
  const newSign = createSoftSigner(algorithm, newKey.privateKeyPkcs8Der);
  const csrPem = await buildCsr({ subject: { commonName: organization }, spkiDer: newKey.spkiDer, sign: async (t) => newSign(t) });
  return { cert, key, newKey, csrPem, mediaSerial };
}

/** One renewal; returns the server-side milliseconds (the PoP signature between start and csr is not counted). */
async function renew(deps: Deps, service: RenewalService, installer: RenewalInstaller, p: Prepared): Promise<number> {
  const session: PcSession = { id: 'bench', csrf: 'bench', binding: randomBytes(32).toString('hex') };
  const t0 = performance.now();
  const started = await service.start(session, { certificatePem: p.cert.pem, mediaSerial: p.mediaSerial }, new Date());
  const t1 = performance.now();
  const message = (await service.popMessage(started.renewalId, session, p.csrPem)).messageBase64;
  const pop = Buffer.from(createSoftSigner(p.key.algorithm, p.key.privateKeyPkcs8Der)(Buffer.from(message, 'base64'))).toString('base64');
  const t2 = performance.now();
  const issued = await service.submitCsr(started.renewalId, session, { csrPem: p.csrPem, keyId: 'bench-key', popSignatureBase64: pop, mediaSerial: p.mediaSerial }, new Date());
  const t3 = performance.now();
  await installer.installed(started.renewalId, session, issued.serialHex, new Date());
  const t4 = performance.now();
  if (recordPhases) {
    phases.start.push(t1 - t0);
    phases.csr.push(t3 - t2);
    phases.installed.push(t4 - t3);
  }
  return (t1 - t0) + (t4 - t2);
}

async function main(): Promise<void> {
  const backend = await createBenchBackend();
  const config = buildConfig(parseSettings({ ...backend.env, PUBLIC_BASE_URL: 'http://cam.bench', RENEWAL_AUDIT_EXPORT_DIR: `/tmp/${backend.schema}-audit` }), generateSandboxSecrets());
  const deps = await openDeps(config, { logger: createLogger('silent') });
  const service = new RenewalService(deps);
  const installer = new RenewalInstaller(deps, service);
  const results: Record<string, { a: Figures; b: Figures; c: Figures; concurrent: { renewals: number; errors: number; wallMs: number; perSecond: number } }> = {};
  try {
    console.log(`schema ${backend.schema}; ${COUNT} renewals per algorithm after ${WARMUP} warm-up; then ${CONCURRENT} at once`);
    for (const algorithm of ALGORITHMS) {
      const pool: Prepared[] = [];
      for (let i = 0; i < WARMUP + COUNT + CONCURRENT; i++) pool.push(await prepare(deps, algorithm));
      const issuerKey = generateSoftKeyPair(algorithm === 'SM2' ? 'SM2' : 'RSA-2048');
      const issuerSign = createSoftSigner(issuerKey.algorithm, issuerKey.privateKeyPkcs8Der);
      const kb = randomBytes(1024);
      const a: number[] = [];
      for (let i = 0; i < WARMUP + COUNT; i++) {
        const t0 = performance.now();
        issuerSign(kb);
        if (i >= WARMUP) a.push(performance.now() - t0);
      }
      const b: number[] = [];
      for (let i = 0; i < WARMUP + COUNT; i++) {
        const k = generateSoftKeyPair(algorithm);
        const s = createSoftSigner(algorithm, k.privateKeyPkcs8Der);
        const request: IssueRequest = {
          requestId: `bench-base-${randomBytes(8).toString('hex')}`, csrPem: await buildCsr({ subject: { commonName: '基线' }, spkiDer: k.spkiDer, sign: async (t) => s(t) }),
          subject: { commonName: '基线', organization: '基线', country: 'CN' }, profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' },
          validity: { notBefore: new Date(), notAfter: new Date(Date.now() + 365 * DAY) },
        };
        const t0 = performance.now();
        await deps.ca.issue(request);
        if (i >= WARMUP) b.push(performance.now() - t0);
      }
      const c: number[] = [];
      for (const k of Object.keys(phases) as Array<keyof typeof phases>) phases[k] = [];
      for (let i = 0; i < WARMUP + COUNT; i++) {
        recordPhases = i >= WARMUP;
        const ms = await renew(deps, service, installer, pool[i]);
        if (i >= WARMUP) c.push(ms);
      }
      console.log(`${algorithm} phases (mean ms): start ${figures(phases.start).meanMs}, csr ${figures(phases.csr).meanMs}, installed ${figures(phases.installed).meanMs}`);
      recordPhases = false;
      const batch = pool.slice(WARMUP + COUNT);
      const t0 = performance.now();
      const outcomes = await Promise.allSettled(batch.map((p) => renew(deps, service, installer, p)));
      const wallMs = performance.now() - t0;
      const errors = outcomes.filter((o) => o.status === 'rejected');
      for (const e of errors.slice(0, 3)) console.error(`${algorithm} concurrent error:`, (e as PromiseRejectedResult).reason);
      results[algorithm] = { a: figures(a), b: figures(b), c: figures(c), concurrent: { renewals: batch.length, errors: errors.length, wallMs: Math.round(wallMs), perSecond: Math.round((batch.length / wallMs) * 10_000) / 10 } };
    }
    const audit = await service.audit.verify();
    // entitled, challenge, csr-received, issued, installed: five entries per renewal, none lost under concurrency.
    const expected = ALGORITHMS.length * (WARMUP + COUNT + CONCURRENT) * 5;
    console.log(`audit chain after the run: ${audit.ok ? 'OK' : 'BROKEN'} (${audit.count} entries, ${expected} expected${audit.count === expected ? '' : ' — ENTRIES LOST'})`);
  } finally {
    await closeDeps(deps);
    await backend.drop();
  }

  const row = (label: string, f: Figures) => `  ${label.padEnd(44)} ${String(f.meanMs).padStart(8)} ${String(f.p50Ms).padStart(8)} ${String(f.p99Ms).padStart(8)}`;
  console.log(`\n  ${'ms per renewal (server side)'.padEnd(44)} ${'mean'.padStart(8)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`);
  const verdicts: Record<string, string> = {};
  for (const [algorithm, r] of Object.entries(results)) {
    console.log(algorithm === 'SM2' ? 'SM2 dual (signing + KMC encryption pair)' : algorithm);
    console.log(row('(a) issuer signs 1 KB (baseline)', r.a));
    console.log(row('(b) BuiltInCa.issue alone (baseline)', r.b));
    console.log(row('(c) renewal: start + csr + installed', r.c));
    console.log(`  c/a ${(r.c.meanMs / r.a.meanMs).toFixed(1)}x, c/b ${(r.c.meanMs / r.b.meanMs).toFixed(2)}x`);
    console.log(`  ${r.concurrent.renewals} concurrent renewals: ${r.concurrent.errors} errors, ${r.concurrent.wallMs} ms, ${r.concurrent.perSecond} renewals/s (${((1000 / r.c.meanMs) > 0 ? (r.concurrent.perSecond / (1000 / r.c.meanMs)).toFixed(2) : '?')}x the sequential rate)`);
    const target = TARGET_MS[algorithm as KeyAlgorithm];
    if (target) verdicts[algorithm] = `${r.c.meanMs < target ? 'PASS' : 'MISS'} (c) mean ${r.c.meanMs} ms < ${target} ms; concurrent ${r.concurrent.errors === 0 ? 'no errors' : `${r.concurrent.errors} ERRORS`}`;
  }
  console.log('\nTargets:');
  for (const [algorithm, v] of Object.entries(verdicts)) console.log(`  ${algorithm}: ${v}`);
  console.log(JSON.stringify({ bench: 'renew', count: COUNT, concurrent: CONCURRENT, node: process.version, results, verdicts }));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
