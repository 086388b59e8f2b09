import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { entities } from '../src/entities';
import { createDataSource } from '../src/lib/db/data-source';
import { runMigrations } from '../src/lib/db/migrate';
import { createLogger } from '../src/lib/logger';
import { buildCsr, parseCsr } from '../src/lib/pki/csr';
import { subjectToName } from '../src/lib/pki/names';
import { OID } from '../src/lib/pki/oids';
import { createSoftSigner, generateSoftKeyPair } from '../src/lib/pki/soft-keys';
import { type KeyAlgorithm } from '../src/lib/pki/types';
import { buildCertificate } from '../src/lib/pki/x509-builder';
import { BuiltInCa } from '../src/providers/ca/sandbox';
import { type IssueRequest } from '../src/providers/ca/types';

/**
 * npm run bench:issue [-- --count 300 --warmup 30 --only RSA-2048,ECDSA-P256,SM2]
 * Server-side issuance time per leaf algorithm, one certificate at a time, on MySQL (a throw-away schema):
 *   (a) baseline: the issuing CA key signing 1 KB (node:crypto RSA for RSA/ECDSA leaves, SM2 for SM2 leaves);
 *   (b) issuance without storage: CSR parse + signature check, TBSCertificate build, CA signature;
 *   (c) BuiltInCa.issue: (b) plus the idempotency lookup and the INSERT (what the CA does per request).
 * CSRs are made beforehand: the token's work is not the CA's. See bench/README.md.
 */
const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' },
    only: { type: 'string', default: 'RSA-2048,ECDSA-P256,SM2' },
  },
});
const COUNT = Number(args.count);
const WARMUP = Number(args.warmup);
const ALGORITHMS = args.only!.split(',') as KeyAlgorithm[];
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
/** Targets for (c), ms per certificate (mean). */
const TARGET_MS: Partial<Record<KeyAlgorithm, number>> = { 'RSA-2048': 20, SM2: 10 };
/** The issuing CA key of each leaf algorithm (see SANDBOX_HIERARCHIES). */
const ISSUER_OF: Record<KeyAlgorithm, KeyAlgorithm> = { 'RSA-2048': 'RSA-2048', 'ECDSA-P256': 'RSA-2048', SM2: 'SM2' };

interface Figures {
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

async function time(n: number, op: (i: number) => unknown): Promise<Figures> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length), p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
}

async function requests(algorithm: KeyAlgorithm, n: number): Promise<IssueRequest[]> {
  const out: IssueRequest[] = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const key = generateSoftKeyPair(algorithm);
    const sign = createSoftSigner(algorithm, key.privateKeyPkcs8Der);
    out.push({
      requestId: randomUUID(),
      csrPem: await buildCsr({ subject: { commonName: `bench ${i}` }, spkiDer: key.spkiDer, sign: async (tbs) => sign(tbs) }),
      subject: { commonName: '梅州市某某建筑工程有限公司', organization: '梅州市某某建筑工程有限公司', creditCode: '91441400MA4UABCD1X', country: 'CN' },
      profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' },
      validity: { notBefore: new Date(now), notAfter: new Date(now + 365 * 86_400_000) },
    });
  }
  return out;
}

async function main(): Promise<void> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = await createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = new URL(MYSQL_URL);
  url.pathname = `/${schema}`;
  const db = createDataSource({ kind: 'mysql', url: url.toString(), poolSize: 5 }, { entities });
  const drop = async () => {
    if (db.isInitialized) await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS \`${schema}\``);
    await admin.end();
  };
  process.once('SIGINT', () => void drop().finally(() => process.exit(130)));

  const results: Record<string, { a: Figures; b: Figures; c: Figures }> = {};
  try {
    await db.initialize();
    const logger = createLogger('silent');
    await runMigrations(db, logger);
    const t0 = performance.now();
    const ca = await new BuiltInCa({ db, clock: { nowMs: () => Date.now() }, logger, keyEncryptionKey: randomBytes(32).toString('base64') }).ensure();
    console.log(`sandbox CA hierarchy created in ${Math.round(performance.now() - t0)} ms; schema ${schema}; ${COUNT} certificates per algorithm after ${WARMUP} warm-up`);

    for (const algorithm of ALGORITHMS) {
      const pool = await requests(algorithm, 2 * (COUNT + WARMUP));
      // (a), (b): a stand-in issuer of the same key type as the sandbox's issuing CA, same code path as BuiltInCa.
      const issuerKey = generateSoftKeyPair(ISSUER_OF[algorithm]);
      const issuerSign = createSoftSigner(issuerKey.algorithm, issuerKey.privateKeyPkcs8Der);
      const issuer = { name: subjectToName({ commonName: 'bench issuing CA', country: 'CN' }), spkiDer: issuerKey.spkiDer, algorithm: issuerKey.algorithm, sign: issuerSign };
      const tbsSized = randomBytes(1024);
      const withoutStorage = async (r: IssueRequest) => {
        const csr = parseCsr(r.csrPem);
        if (!csr.signatureValid) throw new Error('bench CSR does not verify');
        return buildCertificate({
          serial: randomBytes(16), subject: { ...r.subject, organizationalUnit: r.profile.project }, subjectSpkiDer: csr.spkiDer, ...r.validity, issuer,
          keyUsage: ['digitalSignature', 'nonRepudiation'], extendedKeyUsage: [OID.kpClientAuth, OID.kpEmailProtection], policyOids: ['1.3.6.1.4.1.59999.1.1'],
        }, { verify: false });
      };
      await time(WARMUP, () => issuerSign(tbsSized));
      const a = await time(COUNT, () => issuerSign(tbsSized));
      await time(WARMUP, (i) => withoutStorage(pool[i]));
      const b = await time(COUNT, (i) => withoutStorage(pool[WARMUP + i]));
      const rest = pool.slice(WARMUP + COUNT);
      await time(WARMUP, (i) => ca.issue(rest[i]));
      const c = await time(COUNT, (i) => ca.issue(rest[WARMUP + i]));
      results[algorithm] = { a, b, c };
    }
  } finally {
    await drop();
  }

  const row = (label: string, f: Figures) => `  ${label.padEnd(40)} ${String(f.meanMs).padStart(8)} ${String(f.p50Ms).padStart(8)} ${String(f.p99Ms).padStart(8)}`;
  console.log(`\n  ${'ms per certificate'.padEnd(40)} ${'mean'.padStart(8)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`);
  const verdicts: Record<string, string> = {};
  for (const [algorithm, r] of Object.entries(results)) {
    console.log(`${algorithm} leaf (issuer ${ISSUER_OF[algorithm as KeyAlgorithm]})`);
    console.log(row('(a) issuer signs 1 KB (baseline)', r.a));
    console.log(row('(b) issue without storage', r.b));
    console.log(row('(c) BuiltInCa.issue (MySQL)', r.c));
    console.log(`  c/a ${(r.c.meanMs / r.a.meanMs).toFixed(1)}x, c/b ${(r.c.meanMs / r.b.meanMs).toFixed(2)}x`);
    const target = TARGET_MS[algorithm as KeyAlgorithm];
    if (target) verdicts[algorithm] = `${r.c.meanMs < target ? 'PASS' : 'MISS'} (c) mean ${r.c.meanMs} ms < ${target} ms`;
  }
  console.log('\nTargets:');
  for (const [algorithm, v] of Object.entries(verdicts)) console.log(`  ${algorithm}: ${v}`);
  console.log(JSON.stringify({ bench: 'issue', count: COUNT, node: process.version, results, verdicts }));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
