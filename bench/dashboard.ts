import { parseArgs } from 'node:util';
import { DashboardService } from '../src/modules/dashboard/service';
import { openConsoleBench, type Stats, timeCalls } from './console-setup';

/**
 * npm run bench:dashboard [-- --orders 1000000 --samples 30 --baseline-samples 3 --seconds 10 --schema bench_x --keep]
 * The console dashboard over the data of bench/order-search.ts (`--schema` reuses a kept schema), in one run:
 *  1. baseline: the figures computed WITHOUT the indexes of migration 1766200000000;
 *  2. with them: the figures computed afresh (`--samples` times: what the first operator after the 30 s cache pays),
 *     and read from the cache;
 *  3. autocannon against the console's `/` page (logged in), beside /approvals in the same run.
 * Target (issue 12): the dashboard in < 300 ms.
 */
const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '30' },
    'baseline-samples': { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    schema: { type: 'string' },
    keep: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
    'no-pages': { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stdout.write(`${line}\n`);
const line = (name: string, s: Stats) => log(`  ${name.padEnd(34)} p50 ${String(s.p50).padStart(7)}  p95 ${String(s.p95).padStart(7)}  p99 ${String(s.p99).padStart(7)}  max ${String(s.max).padStart(7)} ms  (n=${s.n})`);

async function main() {
  const bench = await openConsoleBench({ schema: args.schema, orders: Number(args.orders), log });
  let ok = false;
  try {
    if (bench.loaded) log(`loaded ${bench.loaded.orders} orders, ${bench.loaded.renewals} renewals in ${(bench.loaded.ms / 1000).toFixed(1)} s (schema ${bench.schema})`);
    const service = new DashboardService(bench.deps);
    let baseline: Stats | null = null;
    if (bench.loaded || args.baseline) {
      await bench.dropSearchIndexes();
      log('\nbaseline: without the indexes of migration 1766200000000');
      baseline = await timeCalls(Number(args['baseline-samples']), () => service.compute());
      line('figures computed', baseline);
    }
    const indexMs = await bench.createSearchIndexes();
    if (indexMs) log(`\nindexes added in ${(indexMs / 1000).toFixed(1)} s`);
    log('with the indexes:');
    const fresh = await timeCalls(Number(args.samples), () => service.compute());
    line('figures computed (cache miss)', fresh);
    await service.figures({ fresh: true });
    const cached = await timeCalls(Number(args.samples) * 10, () => service.figures());
    line('figures from the 30 s cache', cached);
    const f = await service.compute();
    log(`  figures: ${JSON.stringify({ ...f, renewalsPerDay: f.renewalsPerDay.map((d) => d.count), revenuePerWeek: f.revenuePerWeek.map((w) => w.fen / 100) })}`);
    log(`\ntarget < 300 ms (computed afresh, p95): ${fresh.p95 < 300 ? 'PASS' : 'MISS'} (${fresh.p95} ms)`);
    const pages = args['no-pages'] ? null : await (await import('./console-pages')).consolePageRun(bench, {
      seconds: Number(args.seconds), connections: Number(args.connections), paths: ['/'], uncached: () => bench.deps.store.del('console:dashboard:v1'),
    }, log);
    log(JSON.stringify({ bench: 'dashboard', orders: bench.loaded?.orders, baseline, fresh, cached, indexMs, pages }));
    ok = true;
  } finally {
    await bench.close(args.keep || !ok);
    if (args.keep || !ok) log(`schema kept: ${bench.schema}`);
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
