import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { type Deps } from '../src/deps';
import { createLogger } from '../src/lib/logger';
import { NoticeOutboxEntity } from '../src/modules/notices/outbox';
import { OrderEntity } from '../src/modules/orders/entities';
import { StatementEntryEntity, TransferCodeEntity } from '../src/modules/transfers/entities';
import { type LineOutcome, TransferService } from '../src/modules/transfers/service';
import { parseStatementCsv } from '../src/modules/transfers/statement-file';
import { createBenchBackend } from './backend';
import { clientCounts, countClientCommands, RunProfiler } from './counters';
import { baselineImportLines } from './statement-import-baseline';

/**
 * npm run bench:import [-- --lines 100000 --baseline 2000 --only mysql,sqlite]
 * The 对公汇款 statement import (TransferService.importLines, what `npm run statements:import` and the console run)
 * on MySQL (+ Redis for the notice jobs, as in production) and on the embedded SQLite, each on a throw-away
 * database. A generated statement with a realistic mix (see MIX) is written as CSV, parsed, and imported; the
 * orders it pays are seeded in bulk beforehand. Per backend, in one run:
 *   (a) baseline: the code of 7e556b8 (bench/statement-import-baseline.ts) on a --baseline-line file, extrapolated;
 *   (b) the import now, on a file of the same size;
 *   (c) the import now, on --lines lines; then (r) the same file again (every line skipped, nothing credited twice).
 * Counted per line: SQL statements and commits (at the client library), Redis commands (the notice jobs).
 */
const { values: args } = parseArgs({
  options: {
    lines: { type: 'string', default: '100000' },
    baseline: { type: 'string', default: '2000' },
    only: { type: 'string', default: 'mysql,sqlite' },
    /** Writes a V8 CPU profile of each backend's (c) run there (summarise with bench/cpuprofile.ts). */
    'cpu-prof': { type: 'string' },
  },
});
const LINES = Number(args.lines);
const BASELINE_LINES = Number(args.baseline);
const TARGET_S = 30;

/** Share of lines per kind (the rest: already imported by an earlier, overlapping statement). */
const MIX = {
  match: 0.34, amountMismatch: 0.06, nameMismatch: 0.03, fiscal: 0.01, latePayment: 0.02,
  unknownCode: 0.12, notCode: 0.1, duplicateInFile: 0.05,
} as const;
type Kind = keyof typeof MIX | 'alreadyImported';

/** The k-th 6-digit code: a bijection on 0..999,999 (7919 is prime to 10^6), so orders' and unknown codes never collide. */
const codeOf = (k: number) => String((k * 7919 + 104_729) % 1_000_000).padStart(6, '0');

interface Generated {
  csv: Buffer;
  orders: Array<{ orderNo: string; code: string; org: string; totalFen: number; state: 'PENDING_PAYMENT' | 'CLOSED' }>;
  preImported: string[];
  expected: Record<Kind, number>;
}

/** Deterministic (seeded) so the baseline and the import see the same kind of file. */
function generate(tag: string, lines: number, codeBase: number): Generated {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  const rows: string[] = ['交易日期,付款人名称,付款账号,付款行,金额,附言,流水号'];
  const orders: Generated['orders'] = [];
  const preImported: string[] = [];
  const expected = Object.fromEntries([...Object.keys(MIX), 'alreadyImported'].map((k) => [k, 0])) as Record<Kind, number>;
  const written: string[] = [];
  let unknown = 0;
  const newOrder = (state: 'PENDING_PAYMENT' | 'CLOSED') => {
    const n = orders.length;
    const order = { orderNo: `BI${tag}${String(n).padStart(7, '0')}`, code: codeOf(codeBase + n), org: `梅州市压测单位${tag}${n}(集团)有限公司`, totalFen: 20_000 * (1 + (n % 3)), state };
    orders.push(order);
    return order;
  };
  const yuan = (fen: number) => (fen / 100).toFixed(2);
  for (let i = 0; i < lines; i++) {
    const serial = `${tag}-${i}`;
    const r = rnd();
    let acc = 0;
    let kind: Kind = 'alreadyImported';
    for (const [k, share] of Object.entries(MIX)) if (r < (acc += share)) { kind = k as Kind; break; }
    if (kind === 'duplicateInFile' && !written.length) kind = 'unknownCode';
    expected[kind]++;
    let row: string;
    switch (kind) {
      case 'match': {
        const o = newOrder('PENDING_PAYMENT');
        // Every fourth payer writes the brackets full-width: still the same organisation.
        row = `2026-12-01,${i % 4 ? o.org : o.org.replace('(', '（').replace(')', '）')},440${i},建设银行,${yuan(o.totalFen)},${o.code},${serial}`;
        break;
      }
      case 'amountMismatch': { const o = newOrder('PENDING_PAYMENT'); row = `2026-12-01,${o.org},440${i},工商银行,${yuan(o.totalFen - 100)},${o.code},${serial}`; break; }
      case 'nameMismatch': { const o = newOrder('PENDING_PAYMENT'); row = `2026-12-01,梅州市别的单位${i},440${i},工商银行,${yuan(o.totalFen)},${o.code},${serial}`; break; }
      case 'fiscal': { const o = newOrder('PENDING_PAYMENT'); row = `2026-12-01,梅州市财政局零余额账户,440${i},中国银行,${yuan(o.totalFen)},${o.code},${serial}`; break; }
      case 'latePayment': { const o = newOrder('CLOSED'); row = `2026-12-01,${o.org},440${i},农业银行,${yuan(o.totalFen)},${o.code},${serial}`; break; }
      case 'unknownCode': row = `2026-12-01,梅州市某单位${i},440${i},建设银行,200.00,${codeOf(900_000 - ++unknown)},${serial}`; break;
      case 'notCode': row = `2026-12-01,梅州市某单位${i},440${i},建设银行,1200.00,货款,${serial}`; break;
      case 'duplicateInFile': row = written[Math.floor(rnd() * written.length)]; break;
      default: {
        const old = `${tag}-old-${i}`;
        preImported.push(old);
        row = `2026-11-30,梅州市某单位${i},440${i},建设银行,300.00,货款,${old}`;
      }
    }
    rows.push(row);
    if (kind !== 'duplicateInFile') written.push(row);
  }
  return { csv: Buffer.from(rows.join('\n')), orders, preImported, expected };
}

/** Orders, their transfer codes and yesterday's lines, written in multi-row INSERTs (not timed). */
async function seed(deps: Deps, g: Generated): Promise<void> {
  const now = new Date();
  for (let i = 0; i < g.orders.length; i += 500) {
    const chunk = g.orders.slice(i, i + 500);
    await deps.db.createQueryBuilder().insert().into(OrderEntity).updateEntity(false).values(chunk.map((o) => ({
      orderNo: o.orderNo, openid: `oBenchImport${o.orderNo}`, state: o.state, totalFen: o.totalFen, currency: 'CNY' as const, years: 1,
      paymentMethod: 'transfer' as const, expiresAt: new Date(now.getTime() + 7 * 86_400_000), paidAt: null, paidAmountFen: null, transactionId: null,
      closedAt: o.state === 'CLOSED' ? now : null, closeReason: o.state === 'CLOSED' ? ('expired' as const) : null, fulfilledAt: null, refundingAt: null, refundedAt: null,
      sandbox: false, createdAt: now, updatedAt: now,
    }))).execute();
    const ids = await deps.db.getRepository(OrderEntity).find({ select: ['id', 'orderNo'], where: chunk.map((o) => ({ orderNo: o.orderNo })) });
    const idOf = new Map(ids.map((o) => [o.orderNo, o.id]));
    await deps.db.createQueryBuilder().insert().into(TransferCodeEntity).updateEntity(false).values(chunk.map((o) => ({
      orderId: idOf.get(o.orderNo)!, orderNo: o.orderNo, code: o.code, openCode: o.code, organizationName: o.org, createdAt: now,
    }))).execute();
  }
  for (let i = 0; i < g.preImported.length; i += 500) {
    await deps.db.createQueryBuilder().insert().into(StatementEntryEntity).updateEntity(false).values(g.preImported.slice(i, i + 500).map((serial) => ({
      bankSerial: serial, lineDate: '2026-11-30', payerName: '梅州市某单位', payerAccount: '440', payerBank: '建设银行', amountFen: 30_000, remark: '货款',
      decision: 'exception' as const, reason: 'remark-not-code', orderNo: null, source: 'yesterday.csv:1', importedAt: new Date(now.getTime() - 86_400_000),
    }))).execute();
  }
}

/** SQLite statements and commits, counted at better-sqlite3 (every execution of a prepared statement). */
const sqliteCounts = { statements: 0, commits: 0, inTx: false };
function countSqlite(deps: Deps): void {
  const connection = (deps.db.driver as unknown as { databaseConnection: { prepare(sql: string): object } }).databaseConnection;
  const proto = Object.getPrototypeOf(connection.prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
  if ((proto as { benchCounted?: boolean }).benchCounted) return;
  (proto as { benchCounted?: boolean }).benchCounted = true;
  for (const method of ['run', 'all', 'get', 'iterate']) {
    const original = proto[method];
    proto[method] = function (this: { source: string }, ...a: unknown[]) {
      const verb = (/^\s*(\w+)/.exec(this.source)?.[1] ?? '?').toUpperCase();
      sqliteCounts.statements++;
      if (verb === 'BEGIN') sqliteCounts.inTx = true;
      else if (verb === 'COMMIT' || verb === 'ROLLBACK') {
        if (verb === 'COMMIT') sqliteCounts.commits++;
        sqliteCounts.inTx = false;
      } else if (!sqliteCounts.inTx && /^(INSERT|UPDATE|DELETE|REPLACE)$/.test(verb)) sqliteCounts.commits++;
      return original.apply(this, a);
    };
  }
}

function counted(kind: 'mysql' | 'sqlite'): { statements: number; commits: number; redis: number } {
  if (kind === 'sqlite') return { statements: sqliteCounts.statements, commits: sqliteCounts.commits, redis: 0 };
  const c = clientCounts();
  const statements = Object.entries(c.sql).filter(([k]) => k !== 'commits').reduce((a, [, v]) => a + v, 0);
  return { statements, commits: c.sql.commits ?? 0, redis: Object.values(c.redis).reduce((a, b) => a + b, 0) };
}

interface Run { label: string; lines: number; parseS: number; importS: number; cpuS: number; linesPerS: number; stmtsPerLine: number; commitsPerLine: number; redisPerLine: number; results: Record<string, number>; extrapolated100kS?: number }

async function timed(deps: Deps, kind: 'mysql' | 'sqlite', label: string, g: Generated, importer: (lines: ReturnType<typeof parseStatementCsv>['lines']) => Promise<LineOutcome[]>): Promise<Run> {
  const t0 = performance.now();
  const parsed = parseStatementCsv(g.csv);
  const t1 = performance.now();
  const before = counted(kind);
  const cpu0 = process.cpuUsage();
  const outcomes = await importer(parsed.lines);
  const cpu = process.cpuUsage(cpu0);
  const t2 = performance.now();
  const after = counted(kind);
  const n = parsed.lines.length;
  const results: Record<string, number> = {};
  for (const o of outcomes) results[o.result] = (results[o.result] ?? 0) + 1;
  const importS = (t2 - t1) / 1000;
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    label, lines: n, parseS: r3((t1 - t0) / 1000), importS: r3(importS), cpuS: r3((cpu.user + cpu.system) / 1e6), linesPerS: Math.round(n / importS),
    stmtsPerLine: r3((after.statements - before.statements) / n), commitsPerLine: r3((after.commits - before.commits) / n), redisPerLine: r3((after.redis - before.redis) / n),
    results, extrapolated100kS: undefined,
  };
}

/** Every matched order is PAID by its own line, once; nothing else is. */
async function check(deps: Deps, g: Generated, tag: string): Promise<string> {
  const paid = await deps.db.getRepository(OrderEntity).createQueryBuilder('o').where('o.orderNo LIKE :p', { p: `BI${tag}%` }).andWhere("o.state = 'PAID'").getCount();
  const credited = await deps.db.getRepository(StatementEntryEntity).createQueryBuilder('l').where('l.bankSerial LIKE :p', { p: `${tag}-%` }).andWhere("l.decision = 'credited'").getCount();
  const processing = await deps.db.getRepository(StatementEntryEntity).createQueryBuilder('l').where('l.bankSerial LIKE :p', { p: `${tag}-%` }).andWhere("l.decision = 'processing'").getCount();
  const owed = await deps.db.getRepository(NoticeOutboxEntity).createQueryBuilder('n').where('n.noticeKey LIKE :p', { p: `paid-BI${tag}%` }).getCount();
  const ok = paid === g.expected.match && credited === g.expected.match && owed === g.expected.match && processing === 0;
  return `${ok ? 'OK' : 'WRONG'}: ${paid} orders PAID, ${credited} lines credited, ${owed} 支付成功 notices recorded (expected ${g.expected.match} each), ${processing} lines left processing`;
}

async function openBackend(kind: 'mysql' | 'sqlite'): Promise<{ deps: Deps; drop(): Promise<void> }> {
  if (kind === 'mysql') {
    const backend = await createBenchBackend();
    const deps = await openDeps(buildConfig(parseSettings({ ...backend.env, PUBLIC_BASE_URL: 'http://cam.bench' }), generateSandboxSecrets()), { logger: createLogger('silent') });
    return { deps, drop: async () => { await closeDeps(deps); await backend.drop(); } };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-import-'));
  const env = { APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: randomBytes(32).toString('base64url'), DATA_DIR: dir, CA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  const deps = await openDeps(buildConfig(parseSettings(env), generateSandboxSecrets()), { logger: createLogger('silent') });
  countSqlite(deps);
  return { deps, drop: async () => { await closeDeps(deps); rmSync(dir, { recursive: true, force: true }); } };
}

async function main(): Promise<void> {
  countClientCommands(() => null);
  const all: Record<string, Run[]> = {};
  const load = { start: loadavg().map((v) => Math.round(v * 100) / 100), end: [] as number[] };
  for (const kind of args.only!.split(',') as Array<'mysql' | 'sqlite'>) {
    const { deps, drop } = await openBackend(kind);
    const runs: Run[] = [];
    try {
      const service = new TransferService(deps);
      const at = () => new Date(deps.clock.nowMs());
      // Distinct order numbers, serials and codes per file: the three files share one database.
      const base = generate(`A${kind[0]}`, BASELINE_LINES, 0);
      const small = generate(`B${kind[0]}`, BASELINE_LINES, 100_000);
      const big = generate(`C${kind[0]}`, LINES, 200_000);
      const s0 = performance.now();
      for (const g of [base, small, big]) await seed(deps, g);
      console.log(`${kind}: seeded ${base.orders.length + small.orders.length + big.orders.length} orders and ${base.preImported.length + small.preImported.length + big.preImported.length} earlier lines in ${((performance.now() - s0) / 1000).toFixed(1)} s; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);

      const a = await timed(deps, kind, '(a) baseline 7e556b8', base, (lines) => baselineImportLines(deps, lines, 'baseline.csv', at()));
      a.extrapolated100kS = Math.round((a.importS / a.lines) * 100_000);
      runs.push(a);
      console.log(`  ${a.label}: ${a.lines} lines in ${a.importS} s → ${a.extrapolated100kS} s per 100,000 lines; ${await check(deps, base, `A${kind[0]}`)}`);
      const b = await timed(deps, kind, '(b) now, same size', small, (lines) => service.importLines(lines, 'small.csv', at()));
      runs.push(b);
      console.log(`  ${b.label}: ${b.lines} lines in ${b.importS} s; ${await check(deps, small, `B${kind[0]}`)}`);
      const profiler = new RunProfiler();
      if (args['cpu-prof']) await profiler.start();
      const c = await timed(deps, kind, `(c) now, ${LINES} lines`, big, (lines) => service.importLines(lines, 'big.csv', at()));
      if (args['cpu-prof']) await profiler.stop(join(args['cpu-prof'], `import-${kind}-${Date.now()}.cpuprofile`));
      runs.push(c);
      console.log(`  ${c.label}: ${c.lines} lines in ${c.importS} s (parse ${c.parseS} s); ${await check(deps, big, `C${kind[0]}`)}`);
      const r = await timed(deps, kind, '(r) same file again', big, (lines) => service.importLines(lines, 'big-again.csv', at()));
      runs.push(r);
      console.log(`  ${r.label}: ${r.lines} lines in ${r.importS} s; ${await check(deps, big, `C${kind[0]}`)}`);
      console.log(`  expected mix of (c): ${JSON.stringify(big.expected)}`);
    } finally {
      await drop();
    }
    all[kind] = runs;
  }
  load.end = loadavg().map((v) => Math.round(v * 100) / 100);

  console.log(`\n${'run'.padEnd(30)} ${'lines'.padStart(7)} ${'import s'.padStart(9)} ${'cpu s'.padStart(7)} ${'lines/s'.padStart(8)} ${'stmts/l'.padStart(8)} ${'commits/l'.padStart(9)} ${'redis/l'.padStart(8)}  results`);
  for (const [kind, runs] of Object.entries(all)) {
    console.log(kind);
    for (const r of runs) {
      console.log(`  ${r.label.padEnd(28)} ${String(r.lines).padStart(7)} ${String(r.importS).padStart(9)} ${String(r.cpuS).padStart(7)} ${String(r.linesPerS).padStart(8)} ${String(r.stmtsPerLine).padStart(8)} ${String(r.commitsPerLine).padStart(9)} ${String(r.redisPerLine).padStart(8)}  ${JSON.stringify(r.results)}${r.extrapolated100kS ? ` (≈ ${r.extrapolated100kS} s per 100k)` : ''}`);
    }
    const c = runs.find((r) => r.label.startsWith('(c)'));
    if (c) console.log(`  target: ${c.lines >= 100_000 && c.importS < TARGET_S ? 'PASS' : c.lines < 100_000 ? 'n/a (fewer than 100,000 lines)' : 'MISS'} — ${c.lines} lines in ${c.importS} s (< ${TARGET_S} s for 100,000)`);
  }
  console.log(`load average at start ${load.start.join(' ')}, at end ${load.end.join(' ')} (2 shared cores)`);
  console.log(JSON.stringify({ bench: 'statement-import', node: process.version, lines: LINES, baselineLines: BASELINE_LINES, load, runs: all }));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
