import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { generate } from 'otplib';
import { createConsoleApp } from '../src/modules/console/app';
import { OperatorService } from '../src/modules/console/operators';
import { type ConsoleBench } from './console-setup';

/**
 * The console pages under autocannon, logged in as an operator (财务 + 客服) the way a browser is: GET /login for the
 * session cookie and CSRF token, POST /login with the password and the current TOTP code. Each path runs
 * `seconds` with `connections` connections, after /approvals (the core's list over a near-empty table: the baseline of the
 * console's own stack — session in Redis, the operator re-read, CSP, nunjucks) in the same run.
 */
export interface PageRun { path: string; requests: number; rps: number; p50: number; p90: number; p99: number; max: number; non2xx: number; errors: number }

const cookieOf = (setCookie: string[] | undefined, jar: Map<string, string>) => {
  for (const c of setCookie ?? []) {
    const [pair] = c.split(';');
    const i = pair!.indexOf('=');
    jar.set(pair!.slice(0, i), pair!.slice(i + 1));
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
};

export async function consolePageRun(bench: ConsoleBench, opts: { seconds: number; connections: number; paths: string[]; uncached?: () => Promise<void> }, log: (line: string) => void): Promise<PageRun[]> {
  const deps = bench.deps;
  const username = `bench${Date.now().toString(36)}`;
  const password = `bench password ${username}`;
  const { totpSecret } = await new OperatorService(deps).create({ username, displayName: '压测', password, roles: ['finance', 'support'] });
  const server = createServer(createConsoleApp(deps).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const jar = new Map<string, string>();
    const loginPage = await fetch(`${base}/login`);
    let cookie = cookieOf(loginPage.headers.getSetCookie(), jar);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())?.[1] ?? '';
    const code = generate({ secret: totpSecret, epoch: Math.floor(deps.clock.nowMs() / 1000) });
    const login = await fetch(`${base}/login`, {
      method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, username, password, code: await code, next: '/' }).toString(),
    });
    if (login.status !== 302) throw new Error(`bench login failed: ${login.status} ${(await login.text()).slice(0, 200)}`);
    cookie = cookieOf(login.headers.getSetCookie(), jar);
    const runs: PageRun[] = [];
    log(`\nautocannon, ${opts.connections} connections, ${opts.seconds} s each, logged in (finance + support):`);
    for (const path of ['/approvals', ...opts.paths]) {
      const check = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
      if (check.status !== 200) throw new Error(`GET ${path} answered ${check.status} before the run`);
      await check.arrayBuffer();
      const result = await autocannon({ url: `${base}${path}`, connections: opts.connections, duration: opts.seconds, headers: { cookie } });
      const run: PageRun = {
        path, requests: result.requests.total, rps: Math.round(result.requests.average), p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99,
        max: result.latency.max, non2xx: result.non2xx, errors: result.errors + result.timeouts,
      };
      runs.push(run);
      log(`  GET ${path.slice(0, 60).padEnd(60)} ${String(run.rps).padStart(5)} req/s  p50 ${run.p50}  p90 ${run.p90}  p99 ${run.p99}  max ${run.max} ms  non-2xx ${run.non2xx}  errors ${run.errors}`);
    }
    if (opts.uncached) {
      // One operator at a time, each request after the cache entry is removed: the page as the first one after 30 s sees it.
      const ms: number[] = [];
      for (let i = 0; i < 20; i++) {
        await opts.uncached();
        const t0 = performance.now();
        const res = await fetch(`${base}${opts.paths[0]}`, { headers: { cookie } });
        await res.arrayBuffer();
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      log(`  GET ${opts.paths[0]} with the cache emptied before each request (20, one at a time): p50 ${ms[9]!.toFixed(1)}  p95 ${ms[18]!.toFixed(1)}  max ${ms[19]!.toFixed(1)} ms`);
      runs.push({ path: `${opts.paths[0]} (uncached)`, requests: 20, rps: 0, p50: ms[9]!, p90: ms[17]!, p99: ms[19]!, max: ms[19]!, non2xx: 0, errors: 0 });
    }
    return runs;
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}
