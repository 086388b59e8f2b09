import { parseArgs } from 'node:util';
import { type DataSource } from 'typeorm';
import { encodeCursor, OrderSearch, type OrderSearchQuery } from '../src/modules/orders/search';
import { BENCH_NOW, openConsoleBench, type Stats, timeCalls } from './console-setup';

/**
 * npm run bench:order-search [-- --orders 1000000 --samples 200 --baseline-samples 5 --seconds 10 --schema bench_x --keep]
 * The console's order search over `--orders` orders on MySQL (bench/order-data.ts loads them), in one run:
 *  1. baseline: each search kind WITHOUT the indexes of migration 1766200000000 (`--baseline-samples` calls each: a
 *     full scan costs seconds);
 *  2. the indexes added (time printed), then `--samples` calls of each kind through OrderSearch (the service the page
 *     calls), one after another, p50/p95/p99;
 *  3. autocannon against the console's /orders page (logged in: password + TOTP, as an operator) for an organisation
 *     prefix, beside the console's /approvals page (the core's list, a near-empty table) in the same run.
 * Target (issue 12): < 100 ms p95. `--schema` reuses a schema a `--keep` run loaded (no baseline then, unless its
 * indexes are dropped with `--baseline`).
 */
const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '200' },
    'baseline-samples': { type: 'string', default: '5' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    schema: { type: 'string' },
    keep: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
    'no-pages': { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stdout.write(`${line}\n`);

async function sampleValues(db: DataSource, n: number) {
  const [{ maxId }] = await db.query('SELECT MAX(id) AS maxId FROM orders');
  const ids = Array.from({ length: n }, (_, i) => 1 + Math.floor(((i * 7919 + 13) % 10007) / 10007 * Number(maxId)));
  const rows: Array<{ order_no: string; openid: string; organization: string; credit_code: string; created_at: Date }> = await db.query(
    `SELECT o.order_no, o.openid, c.organization, c.credit_code, o.created_at FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN certificates c ON c.id = l.certificate_id
     WHERE o.id IN (${ids.join(',')})`,
  );
  return rows;
}

export type Kinds = Record<string, (i: number) => OrderSearchQuery>;

function kinds(samples: Awaited<ReturnType<typeof sampleValues>>): Kinds {
  const at = (i: number) => samples[i % samples.length]!;
  const DAY = 86_400_000;
  return {
    'order number': (i) => ({ q: at(i).order_no }),
    USCC: (i) => ({ q: at(i).credit_code }),
    openid: (i) => ({ q: at(i).openid }),
    'organisation prefix (5 chars)': (i) => ({ q: at(i).organization.slice(0, 5) }),
    'organisation prefix (city, 3 chars)': (i) => ({ q: at(i).organization.slice(0, 3) }),
    'state PENDING_PAYMENT': () => ({ state: 'PENDING_PAYMENT' }),
    'state PAID + 7-day range': (i) => ({ state: 'PAID', from: new Date(BENCH_NOW - (30 + (i % 300)) * DAY), to: new Date(BENCH_NOW - (23 + (i % 300)) * DAY) }),
    'all, page 1': () => ({}),
    'all, deep keyset page': (i) => ({ after: encodeCursor(new Date(BENCH_NOW - (10 + (i * 37) % 1000) * DAY), 2 ** 31) }),
  };
}

async function measure(search: OrderSearch, table: Kinds, n: number): Promise<Record<string, Stats & { rows: number }>> {
  const out: Record<string, Stats & { rows: number }> = {};
  for (const [name, query] of Object.entries(table)) {
    let rows = 0;
    const s = await timeCalls(n, async (i) => { rows += (await search.search({ ...query(i), limit: 20 })).rows.length; });
    out[name] = { ...s, rows: Math.round(rows / n) };
    log(`  ${name.padEnd(38)} p50 ${String(s.p50).padStart(7)}  p95 ${String(s.p95).padStart(7)}  p99 ${String(s.p99).padStart(7)}  max ${String(s.max).padStart(7)} ms   (${out[name]!.rows} rows/page)`);
  }
  return out;
}

async function main() {
  const bench = await openConsoleBench({ schema: args.schema, orders: Number(args.orders), log });
  let ok = false;
  try {
    if (bench.loaded) log(`loaded ${bench.loaded.orders} orders, ${bench.loaded.lines} lines, ${bench.loaded.certificates} certificates, ${bench.loaded.renewals} renewals in ${(bench.loaded.ms / 1000).toFixed(1)} s (schema ${bench.schema})`);
    const samples = await sampleValues(bench.deps.db, Number(args.samples));
    const table = kinds(samples);
    const search = new OrderSearch(bench.deps.db);
    let baseline: Record<string, Stats & { rows: number }> | null = null;
    if (bench.loaded || args.baseline) {
      await bench.dropSearchIndexes();
      log(`\nbaseline: without the indexes of migration 1766200000000 (${args['baseline-samples']} calls each)`);
      // Without its index the newest-first path for broad prefixes cannot run (FORCE INDEX names it): every prefix is sorted.
      baseline = await measure(new OrderSearch(bench.deps.db, { broadPrefixRows: 0 }), table, Number(args['baseline-samples']));
    }
    const indexMs = await bench.createSearchIndexes();
    log(`\nindexes of migration 1766200000000 added in ${(indexMs / 1000).toFixed(1)} s`);
    log(`with the indexes (${args.samples} calls each, one at a time):`);
    const indexed = await measure(search, table, Number(args.samples));
    const worst = Math.max(...Object.values(indexed).map((s) => s.p95));
    log(`\ntarget p95 < 100 ms for every kind: ${worst < 100 ? 'PASS' : 'MISS'} (worst p95 ${worst} ms)`);
    // The page run needs the console app; loaded only when asked for, so the service figures need nothing else.
    const pages = args['no-pages'] ? null : await (await import('./console-pages')).consolePageRun(bench, {
      seconds: Number(args.seconds), connections: Number(args.connections),
      paths: [`/orders?q=${encodeURIComponent(samples[0]!.organization.slice(0, 5))}`, `/orders?q=${samples[1]!.order_no}`, '/orders'],
    }, log);
    log(JSON.stringify({ bench: 'order-search', orders: bench.loaded?.orders, baseline, indexed, indexMs, pages }));
    ok = true;
  } finally {
    await bench.close(args.keep || !ok);
    if (args.keep || !ok) log(`schema kept: ${bench.schema} (reuse with --schema ${bench.schema}; drop it with DROP DATABASE when done)`);
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
