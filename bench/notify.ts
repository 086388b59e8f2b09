import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Koa from 'koa';
import { createConnection } from 'mysql2/promise';
import getRawBody from 'raw-body';
import { createApp } from '../src/app';
import { closeDeps, openDeps } from '../src/composition';
import { loadConfig } from '../src/config/load';
import { systemClock } from '../src/lib/clock';
import { createLogger } from '../src/lib/logger';
import { createSandboxWechatPayState } from '../src/providers/wechatpay';
import { createBenchBackend } from './backend';

/**
 * npm run bench:notify [-- --orders 12000 --connections 50 --storm 200]
 * Verified WeChat Pay notifies per second on MySQL + Redis, each crediting a distinct order (c), and a storm of
 * 50 concurrent copies of each notify (d), beside a bare Koa route reading the same bodies (a). Notifies are
 * signed and encrypted in advance (signing costs as much as verifying). See bench/README.md.
 */
const { values: args } = parseArgs({
  options: {
    serve: { type: 'string' },
    orders: { type: 'string', default: '12000' },
    connections: { type: 'string', default: '50' },
    storm: { type: 'string', default: '200' },
  },
});

type Notify = { headers: Record<string, string>; body: string };

async function serve(kind: string): Promise<void> {
  let close: () => Promise<void>;
  let handler;
  if (kind === 'a') {
    const app = new Koa();
    app.use(async (ctx) => {
      await getRawBody(ctx.req, { limit: '64kb', encoding: 'utf8' });
      ctx.status = 204;
    });
    handler = app.callback();
    close = async () => undefined;
  } else {
    const deps = await openDeps(loadConfig(process.env), { logger: createLogger('silent') });
    handler = createApp(deps).callback();
    close = () => closeDeps(deps);
  }
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  process.send!({ type: 'ready', port: (server.address() as { port: number }).port });
  process.on('message', async () => {
    server.closeAllConnections();
    server.close();
    await close();
    process.exit(0);
  });
}

async function startChild(kind: string, env: NodeJS.ProcessEnv): Promise<{ url: string; stop: () => Promise<void> }> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the app server (open it in Chrome DevTools) to find hot spots.
  const profile = kind !== 'a' && process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(__filename, ['--serve', kind], { env, execArgv: [...process.execArgv, ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`server (${kind}) exited with ${code}`)));
    child.on('message', (m: { type: string; port: number }) => m.type === 'ready' && ok(m.port));
  });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  return { url: `http://127.0.0.1:${port}`, stop: async () => { child.send({ type: 'stop' }); await exited; } };
}

/** Sends every notify once, in order, over `connections` keep-alive connections; returns requests per second. */
async function blast(url: string, notifies: Notify[], connections: number): Promise<{ rps: number; p99: number; statuses: Record<string, number> }> {
  let next = 0;
  const statuses: Record<string, number> = {};
  // Timed here, first request to last response: autocannon's own `duration`, and even the moment it resolves,
  // fall on its 1-second sampling ticks (8 s of work reads 8.01 s whether it took 7.1 or 7.9), far too coarse
  // for runs of a few seconds.
  const startedAt = performance.now();
  let lastResponseAt = startedAt;
  const result = await autocannon({
    url, connections, amount: notifies.length, timeout: 30,
    requests: [{
      method: 'POST', path: '/pay/wechat/notify',
      setupRequest: (req) => {
        const n = notifies[next++ % notifies.length];
        return { ...req, headers: { ...req.headers, ...n.headers }, body: n.body };
      },
      onResponse: (status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
        lastResponseAt = performance.now();
      },
    }],
  });
  const seconds = (lastResponseAt - startedAt) / 1000;
  return { rps: result.requests.total / seconds, p99: result.latency.p99, statuses };
}

async function main(): Promise<void> {
  const orders = Number(args.orders);
  const storm = Number(args.storm);
  const connections = Number(args.connections);
  const backend = await createBenchBackend();
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-notify-'));
  const env: Record<string, string> = { ...backend.env, DATA_DIR: dataDir };
  try {
    // The parent signs as the sandbox WeChat Pay of the same DATA_DIR the server reads its keys from.
    const config = loadConfig(env);
    const sandbox = createSandboxWechatPayState(config.wechatpay, createLogger('silent'), systemClock);
    const c = await startChild('c', { ...process.env, ...env });
    const a = await startChild('a', { ...process.env, ...env });

    const db = await createConnection(env.DATABASE_URL);
    const now = new Date();
    const expires = new Date(now.getTime() + 2 * 3_600_000);
    const orderNos = Array.from({ length: orders + storm }, (_, i) => `RB${randomBytes(6).toString('hex').toUpperCase()}${String(i).padStart(6, '0')}`);
    for (let i = 0; i < orderNos.length; i += 1000) {
      const rows = orderNos.slice(i, i + 1000).map((no) => [no, 'oBenchPayer', 'PENDING_PAYMENT', 20000, 'CNY', 1, 'wechatpay', expires, 0, now, now]);
      await db.query('INSERT INTO orders (order_no, openid, state, total_fen, currency, years, payment_method, expires_at, sandbox, created_at, updated_at) VALUES ?', [rows]);
    }
    const t0 = Date.now();
    const sign = (no: string): Notify => sandbox.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', {
      appid: config.wechatpay.appId, mchid: config.wechatpay.mchId, out_trade_no: no, transaction_id: `4200${no.slice(2)}`, trade_type: 'JSAPI',
      trade_state: 'SUCCESS', success_time: new Date().toISOString(), payer: { openid: 'oBenchPayer' }, amount: { total: 20000, payer_total: 20000, currency: 'CNY', payer_currency: 'CNY' },
    });
    const distinct = orderNos.slice(0, orders).map(sign);
    const stormNotifies = orderNos.slice(orders).flatMap((no) => Array(50).fill(sign(no)) as Notify[]);
    console.log(`${orders} distinct notifies + ${storm} × 50 storm copies signed in ${Date.now() - t0} ms; ${connections} connections`);

    const baseline = await blast(a.url, distinct.slice(0, Math.min(orders, 6000)), connections);
    const credited = await blast(c.url, distinct, connections);
    const stormRun = await blast(c.url, stormNotifies, connections);
    const [[row]] = await db.query<import('mysql2').RowDataPacket[]>("SELECT COUNT(*) AS paid, SUM(paid_amount_fen) AS fen FROM orders WHERE state = 'PAID'");
    await db.end();
    await Promise.all([a.stop(), c.stop()]);

    const fmt = (n: number) => n.toFixed(0).padStart(7);
    console.log(`\n  (a) bare Koa, same POST bodies          ${fmt(baseline.rps)} req/s   p99 ${baseline.p99} ms   ${JSON.stringify(baseline.statuses)}`);
    console.log(`  (c) /pay/wechat/notify, distinct orders ${fmt(credited.rps)} notifies/s   p99 ${credited.p99} ms   ${JSON.stringify(credited.statuses)}`);
    console.log(`  (d) storm, 50 copies of each notify     ${fmt(stormRun.rps)} notifies/s   p99 ${stormRun.p99} ms   ${JSON.stringify(stormRun.statuses)}`);
    console.log(`  c/a ${(credited.rps / baseline.rps).toFixed(2)}   d/a ${(stormRun.rps / baseline.rps).toFixed(2)}`);
    console.log(`  orders PAID ${row.paid} of ${orders + storm} (expected all, once each); credited ${Number(row.fen) / 100} 元 (expected ${(orders + storm) * 200})`);
    console.log(`  target ≥ 1,500 verified notifies/s with each credit committed: ${credited.rps >= 1500 ? 'PASS' : 'MISS'}`);
    console.log(JSON.stringify({ bench: 'notify', orders, storm, connections, a: baseline.rps, c: credited.rps, d: stormRun.rps, paid: Number(row.paid) }));
  } finally {
    await backend.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (args.serve) void serve(args.serve);
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});
