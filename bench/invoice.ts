import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { createApp } from '../src/app';
import { closeDeps, openDeps } from '../src/composition';
import { loadConfig } from '../src/config/load';
import { inTransaction } from '../src/lib/db/transaction';
import { createLogger } from '../src/lib/logger';
import { splitTaxInclusive } from '../src/modules/invoices/amounts';
import { sealBuyer } from '../src/modules/invoices/buyer';
import { InvoiceService } from '../src/modules/invoices/service';
import { SANDBOX_AUTHORIZE_PATH } from '../src/modules/oauth/sandbox-authorize';
import { MYSQL_URL, REDIS_URL } from './backend';

/**
 * npm run bench:invoice [-- --invoices 1000 --seconds 5 --rate 100 --renders 200 --rounds 3]
 * 我的发票 (issue 11), in one run on MySQL + Redis:
 *  1. the sandbox invoice PDF render time, p50/p99 (bench/invoice-pdf.ts, run as its own process);
 *  2. 开票历史 (`/h5/invoices?tab=history`, paginated 20 a page) for ONE handler holding `--invoices` invoices: latency
 *     at a fixed `--rate` requests/s (autocannon overallRate) beside the H5 home `/h5/` (same session and OAuth
 *     guard, one query) and `/healthz` measured in the same run, then the throughput of each at saturation.
 * The app runs in a child process (sandbox mode, logged in through the sandbox WeChat OAuth), autocannon here.
 * Targets: PDF p99 < 100 ms; history page p99 < 40 ms at 100 requests/s. Figures are ratios to the baselines.
 */
const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    invoices: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '100' },
    connections: { type: 'string', default: '50' },
    renders: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
  },
});
const OPENID = 'oBenchInvoiceHandler';

/** The child: the app on the given backend, with OPENID's invoices written before it says it is ready. */
async function serve(): Promise<void> {
  const deps = await openDeps(loadConfig(process.env), { logger: createLogger('silent') });
  deps.sandboxWechat!.ensureUser(OPENID, '压测经办人');
  const service = new InvoiceService(deps);
  const count = Number(process.env.BENCH_INVOICES ?? 1000);
  const start = Date.now() - count * 60_000;
  for (let batch = 0; batch < count; batch += 100) {
    await inTransaction(deps.db, async (tx) => {
      for (let i = batch; i < Math.min(batch + 100, count); i++) {
        const at = new Date(start + i * 60_000);
        const totalFen = 20000;
        const split = splitTaxInclusive(totalFen, 600);
        const orderNo = `RBENCH${String(i).padStart(8, '0')}${randomBytes(3).toString('hex').toUpperCase()}`;
        await service.insertWithFreshNumber(tx, {
          openid: OPENID, direction: 'blue', reversesId: null, replacesId: null, buyerKind: 'organisation', title: `梅州市压测单位${i % 7}有限公司`,
          buyerSealed: sealBuyer(deps.pii, { buyerKind: 'organisation', title: `梅州市压测单位${i % 7}有限公司`, taxId: '91441400MA4UU2H23W', bankName: undefined, address: undefined, email: 'bench@example.cn' }),
          totalFen, ...split, status: 'issued', failureReason: null, attemptNo: 1, kind: 'digital', invoiceCode: null,
          invoiceNumber: `2644200000${String(i).padStart(10, '0')}`, issuedAt: at, redConfirmId: null, redState: null, sandbox: true, contactsErasedAt: null, createdAt: at, updatedAt: at,
        }, [{ orderNo, orderKey: orderNo, itemName: '*信息技术服务*数字证书服务费', taxCode: '3040201990000000000', taxRateBp: 600, quantity: 1, totalFen, ...split }]);
      }
    });
  }
  const server = createServer(createApp(deps).callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((ok) => server.listen(Number(process.env.PORT), '127.0.0.1', ok));
  process.send!({ type: 'ready' });
  process.on('message', async () => {
    server.closeAllConnections();
    server.close();
    await closeDeps(deps);
    process.exit(0);
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((ok) => probe.close(() => ok()));
  return port;
}

/** A phone's cookie jar: follows our redirects by hand and picks the OAuth-chosen user on the sandbox page. */
async function login(base: string): Promise<string> {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const get = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(url, base), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: cookie() } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
  let res = await get('/h5/invoices');
  while (res.status === 302 && !res.headers.get('location')!.includes(SANDBOX_AUTHORIZE_PATH)) res = await get(res.headers.get('location')!);
  const authorize = new URL(res.headers.get('location')!, base);
  const form = new URLSearchParams(authorize.searchParams);
  form.set('pick', OPENID);
  res = await get(authorize.pathname, { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  while (res.status === 302) res = await get(res.headers.get('location')!);
  const page = await res.text();
  if (res.status !== 200 || !page.includes('我的发票')) throw new Error(`login did not reach 我的发票: ${res.status}`);
  return cookie();
}

interface Figures { rps: number; p50: number; p99: number; non2xx: number; errors: number }
async function load(url: string, cookie: string, opts: { rate?: number; connections: number; seconds: number }): Promise<Figures> {
  const r = await autocannon({
    url, connections: opts.connections, duration: opts.seconds, headers: { cookie }, ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

/** The run whose `key` is the median of the rounds (the whole run, so its figures belong together). */
function median(runs: Figures[], key: 'p99' | 'rps'): Figures {
  return [...runs].sort((a, b) => a[key] - b[key])[Math.floor(runs.length / 2)]!;
}

async function main(): Promise<void> {
  const invoices = Number(args.invoices);
  const seconds = Number(args.seconds);
  const rate = Number(args.rate);
  const connections = Number(args.connections);
  const rounds = Number(args.rounds);

  // 1. PDF: the existing render bench, in its own process (its own warm-up, no server beside it).
  const pdfOut = execFileSync(process.execPath, [...process.execArgv, join(__dirname, 'invoice-pdf.ts'), String(args.renders)], { encoding: 'utf8' });
  const pdf = JSON.parse(pdfOut.trim().split('\n').at(-1)!) as { pdf: { p50: number; p99: number; max: number } };

  // 2. The page, on a throw-away schema and Redis prefix.
  const id = randomBytes(4).toString('hex');
  const schema = `bench_inv_${id}`;
  const admin = await createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const dbUrl = new URL(MYSQL_URL);
  dbUrl.pathname = `/${schema}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: randomBytes(32).toString('base64url'),
    DATABASE_URL: dbUrl.toString(), REDIS_URL, REDIS_PREFIX: `${schema}:`, PORT: String(port), HOST: '127.0.0.1', PUBLIC_BASE_URL: base, BENCH_INVOICES: String(invoices),
    DATA_DIR: join(tmpdir(), schema) };
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the app server (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(__filename, ['--serve'], { env, execArgv: [...process.execArgv, ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const rows: Array<[string, string, Figures, Figures]> = [];
  try {
    await new Promise<void>((ok, fail) => {
      child.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
      child.on('message', (m: { type: string }) => m.type === 'ready' && ok());
    });
    const cookie = await login(base);
    const lastPage = Math.ceil(invoices / 20);
    const targets: Array<[string, string]> = [
      ['/healthz', `${base}/healthz`],
      ['/h5/ (baseline)', `${base}/h5/`],
      ['开票历史 p.1', `${base}/h5/invoices?tab=history`],
      [`开票历史 p.${lastPage}`, `${base}/h5/invoices?tab=history&page=${lastPage}`],
      ['待开票', `${base}/h5/invoices`],
    ];
    for (const [name, url] of targets) {
      const check = await fetch(url, { headers: { cookie } });
      const body = await check.text();
      if (check.status !== 200 || (name.startsWith('开票历史') && !body.includes(`共 ${invoices} 张`))) throw new Error(`${name}: ${check.status}, not the page expected`);
      await load(url, cookie, { connections: 10, seconds: 2 }); // warm-up
    }
    // Interleaved rounds, the median kept: on a shared machine the load drifts, and every page should see the same drift.
    const fixed = new Map<string, Figures[]>();
    const saturated = new Map<string, Figures[]>();
    for (let round = 0; round < rounds; round++) {
      for (const [name, url] of targets) {
        fixed.set(name, [...(fixed.get(name) ?? []), await load(url, cookie, { rate, connections: 10, seconds })]);
        saturated.set(name, [...(saturated.get(name) ?? []), await load(url, cookie, { connections, seconds })]);
      }
    }
    for (const [name, url] of targets) rows.push([name, url, median(fixed.get(name)!, 'p99'), median(saturated.get(name)!, 'rps')]);
  } finally {
    child.send({ type: 'stop' });
    await exited;
    const conn = await createConnection(MYSQL_URL);
    await conn.query(`DROP DATABASE IF EXISTS \`${schema}\``);
    await conn.end();
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${schema}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }

  const home = rows.find(([n]) => n.startsWith('/h5/ '))![2];
  const homeSat = rows.find(([n]) => n.startsWith('/h5/ '))![3];
  console.log(`PDF render (${args.renders}): p50 ${pdf.pdf.p50} ms, p99 ${pdf.pdf.p99} ms, max ${pdf.pdf.max} ms  target p99 < 100 ms: ${pdf.pdf.p99 < 100 ? 'PASS' : 'MISS'}`);
  console.log(`\nPages on MySQL + Redis, ${invoices} invoices for one handler; at ${rate} req/s fixed (10 connections, ${seconds} s), then saturation (${connections} connections); median of ${rounds} interleaved rounds:`);
  console.log('page                    p50 ms  p99 ms  p99/home   sat. req/s  vs home  errors');
  for (const [name, , fixed, sat] of rows) {
    console.log(`${name.padEnd(22)} ${String(fixed.p50).padStart(6)}  ${String(fixed.p99).padStart(6)}  ${(fixed.p99 / Math.max(home.p99, 1)).toFixed(2).padStart(8)}   ${String(sat.rps).padStart(10)}  ${(sat.rps / homeSat.rps).toFixed(2).padStart(7)}  ${fixed.non2xx + fixed.errors + sat.non2xx + sat.errors}`);
  }
  const history = rows.find(([n]) => n === '开票历史 p.1')![2];
  console.log(`\n开票历史 p99 at ${rate} req/s: ${history.p99} ms  target < 40 ms: ${history.p99 < 40 ? 'PASS' : 'MISS'}`);
  console.log(JSON.stringify({ invoices, rate, pdf: pdf.pdf, pages: Object.fromEntries(rows.map(([n, , f, s]) => [n, { fixed: f, saturation: s }])) }));
}

if (args.serve) void serve();
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});
