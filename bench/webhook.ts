import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { settingsSchema } from '../src/config/settings';
import { openWebhookReply } from '../src/modules/wechat-webhook/outbound-request';
import { childEnv, createBenchBackend, type BenchBackend } from './backend';
import { cpuShare, cpuSnapshot, type CpuShare } from './cpu';
import { summarizeByComponent, summarizeProfile } from './cpuprofile';
import { runLoad, type LoadFigures } from './load';
import { IDENTITY, RequestPool } from './requests';
import { serveChild, type ChildMessage, type ChildStats, type ParentMessage, type ServerKind } from './servers';

/**
 * npm run bench:webhook [-- --seconds 10 --warmup 3 --connections 100 --only a,b,c --cpu-prof]
 * (a) bare Koa, (b) co-wechat's bare middleware, (c) our /wechat on MySQL + Redis, its jobs calling (w) the
 * sandbox WeChat API in a process of its own; see bench/README.md.
 */
const { values: args } = parseArgs({
  options: {
    serve: { type: 'string' },
    port: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    only: { type: 'string', default: 'a,b,c' },
    'cpu-prof': { type: 'boolean', default: !!process.env.BENCH_CPU_PROF },
  },
});

/**
 * Requests signed per second of load: 2 × the warm-up's rate (at least RATE_FLOOR), so the pool does not run dry
 * yet a 60 s burst does not hold hundreds of MB of pre-signed requests; live signing is counted if it ever does.
 */
const RATE_FLOOR = 2000;
const WARMUP_RATE_CAP = 10_000;
const PROFILE_DIR = process.env.BENCH_CPU_PROF || join(__dirname, 'profiles');
const LABELS: Record<ServerKind, string> = { a: '(a) bare Koa hello', b: '(b) co-wechat middleware', c: '(c) our /wechat (MySQL+Redis)', w: '(w) sandbox WeChat API' };
/** The throughput target of issue 9: (c) at least this many times (b)'s requests per second, p99 no higher. */
const TARGET_RATIO = 1.2;

interface Child {
  port: number;
  stats(): Promise<ChildStats>;
  profile(msg: ParentMessage): Promise<void>;
  stop(): Promise<void>;
}

function startChild(kind: ServerKind, env: NodeJS.ProcessEnv, execArgv: string[]): Promise<Child> {
  const proc: ChildProcess = fork(__filename, ['--serve', kind, '--port', '0'], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const request = <T extends ChildMessage['type']>(msg: ParentMessage, want: T) =>
    new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (m.type === want) {
          proc.off('message', onMessage);
          resolve(m as Extract<ChildMessage, { type: T }>);
        }
      };
      proc.on('message', onMessage);
      proc.send(msg, (err) => err && reject(err));
    });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`server (${kind}) exited with ${code} before it was ready`)));
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'fatal') reject(new Error(`server (${kind}) failed to start:\n${m.error}`));
      if (m.type !== 'ready') return;
      resolve({
        port: m.port,
        stats: async () => (await request({ type: 'stats' }, 'stats')).stats,
        profile: async (msg) => void (await request(msg, 'profiled')),
        stop: async () => {
          if (proc.exitCode !== null) return;
          proc.send({ type: 'stop' } satisfies ParentMessage);
          const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

interface ScenarioResult {
  kind: ServerKind;
  warm: LoadFigures;
  run: LoadFigures;
  child: ChildStats;
  cpu: CpuShare;
  /** The server process's CPU time (user + system, all threads) during the measured run, µs. */
  cpuUsRun: number;
  signMs?: { warm: number; run: number; runPoolSize: number };
  replyCheck?: { ok: boolean; detail: string };
  rowsCheck?: { ok: boolean; followers: number; replies: number; inFlightAtStop: number; keysDeleted: number; detail: string };
  profile?: string;
  /** Redis commands (every connection) and SQL statements per response during the measured run. */
  perRequest?: Record<string, number>;
  /** After the run: jobs finished, failed, and the WeChat API calls (w) answered. */
  drain?: { ms: number; cpuUsPerEventWithJobs: number; unfinished: number; jobs: Record<string, number>; wechatCalls: Record<string, number>; wechatCpuPct: number };
}

function perRequest(before: ChildStats, after: ChildStats, responses: number): Record<string, number> {
  const out: Record<string, number> = {};
  const per = (n: number) => Math.round((n / Math.max(responses, 1)) * 100) / 100;
  const delta = (a: Record<string, number> = {}, b: Record<string, number> = {}) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, d]) => (d as number) > 0)) as Record<string, number>;
  const redis = delta(before.clients?.redis, after.clients?.redis);
  const sql = delta(before.clients?.sql, after.clients?.sql);
  const sum = (m: Record<string, number>, pick: (k: string) => boolean) => Object.entries(m).filter(([k]) => pick(k)).reduce((n, [, v]) => n + v, 0);
  out['redis.all'] = per(sum(redis, () => true));
  out['redis.store'] = per(sum(redis, (k) => k.startsWith('store.')));
  out['redis.bullmq'] = per(sum(redis, (k) => k.startsWith('bullmq.')));
  for (const [k, v] of Object.entries(redis)) out[`redis.${k}`] = per(v);
  out['sql.statements'] = per(sum(sql, (k) => k !== 'commits'));
  for (const [k, v] of Object.entries(sql)) out[`sql.${k}`] = per(v);
  return out;
}

const cleanups: (() => Promise<unknown>)[] = [];

/** A sample reply must be `<xml><Encrypt>…`, carry a valid MsgSignature and decrypt to the welcome text. */
function checkReplies(figs: LoadFigures[]): { ok: boolean; detail: string } {
  const replies = figs.reduce((n, f) => n + f.replies, 0);
  const encrypted = figs.reduce((n, f) => n + f.encryptedReplies, 0);
  const sample = figs.find((f) => f.sampleReply)?.sampleReply;
  if (!sample) return { ok: false, detail: 'no reply other than `success` was received' };
  const opened = openWebhookReply(IDENTITY, sample);
  const ok = encrypted === replies && opened.signatureValid && opened.xml.includes('欢迎关注') && opened.xml.includes('<FromUserName><![CDATA[gh_bench]]>');
  return { ok, detail: `${encrypted}/${replies} replies are <xml><Encrypt>…; sample signature ${opened.signatureValid ? 'valid' : 'INVALID'}, decrypts to ${opened.xml.slice(0, 90)}…` };
}

async function waitForStableCounts(backend: BenchBackend) {
  let last = await backend.counts();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await backend.counts();
    if (now.followers === last.followers) return now;
    last = now;
  }
  return last;
}

async function scenario(kind: ServerKind, o: { seconds: number; warmup: number; connections: number; profile: boolean }): Promise<ScenarioResult> {
  let backend: BenchBackend | undefined;
  let wechat: Child | undefined;
  if (kind === 'c') {
    backend = await createBenchBackend();
    const b = backend;
    cleanups.push(() => b.drop());
    // The jobs a subscribe queues (legacy.restore: token, user info) call an API that answers, as in production.
    const w = await startChild('w', childEnv(Object.keys(settingsSchema.shape)), [...process.execArgv]);
    wechat = w;
    cleanups.push(() => w.stop());
    backend.env.WECHAT_API_BASE = `http://127.0.0.1:${w.port}`;
  }
  const execArgv = [...process.execArgv];
  const child = await startChild(kind, childEnv(Object.keys(settingsSchema.shape), backend?.env), execArgv);
  cleanups.push(() => child.stop());
  const url = `http://127.0.0.1:${child.port}/`;
  const pool = kind === 'a' ? undefined : new RequestPool(`${kind}${Date.now().toString(36)}`);
  const signMs = { warm: 0, run: 0, runPoolSize: 0 };

  if (pool) signMs.warm = pool.refill(Math.ceil(WARMUP_RATE_CAP * o.warmup));
  const warm = await runLoad({ url, connections: o.connections, seconds: o.warmup, pool });
  // Signed now, in the gap, so every measured request is fresh (timestamps within ±300 s) and unseen.
  const runPoolSize = Math.ceil(Math.max(RATE_FLOOR, 2 * warm.rps) * o.seconds);
  if (pool) signMs.run = pool.refill(runPoolSize);
  signMs.runPoolSize = runPoolSize;
  const profileFile = o.profile && kind !== 'a' ? join(PROFILE_DIR, `webhook-${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`) : undefined;
  if (profileFile) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    await child.profile({ type: 'profile-start' });
  }
  const statsBefore = await child.stats();
  const wechatBefore = await wechat?.stats();
  const cpuBefore = cpuSnapshot();
  const run = await runLoad({ url, connections: o.connections, seconds: o.seconds, pool });
  const cpuAfter = cpuSnapshot();
  const childStats = await child.stats();
  const wechatAfter = await wechat?.stats();
  if (profileFile) await child.profile({ type: 'profile-stop', file: profileFile });
  const cpu = cpuShare(cpuBefore, cpuAfter, childStats.cpuUs - statsBefore.cpuUs);

  const result: ScenarioResult = { kind, warm, run, child: childStats, cpu, cpuUsRun: childStats.cpuUs - statsBefore.cpuUs, signMs: pool ? signMs : undefined, profile: profileFile };
  if (kind === 'c') result.perRequest = perRequest(statsBefore, childStats, run.responses);
  if (wechat && wechatBefore && wechatAfter) {
    // The jobs queued in the run finish after it: wait for them, then count what ran and what failed.
    const drainStarted = Date.now();
    // A burst leaves a backlog: wait while it shrinks (up to 10 min), give up after 15 s without progress.
    let stats = await child.stats();
    let owed = await backend!.owedRestores();
    let lastOwed = Number.POSITIVE_INFINITY;
    let lastProgressAt = Date.now();
    while (owed > 0 && Date.now() - drainStarted < 600_000 && Date.now() - lastProgressAt < 15_000) {
      if (owed < lastOwed) {
        lastOwed = owed;
        lastProgressAt = Date.now();
      }
      await new Promise((r) => setTimeout(r, 500));
      owed = await backend!.owedRestores();
    }
    stats = await child.stats();
    const wechatEnd = await wechat.stats();
    const wallMs = cpuAfter.at - cpuBefore.at;
    result.drain = {
      ms: Date.now() - drainStarted,
      // Everything the events of the run cost the server, their restore jobs included (run during or after it).
      cpuUsPerEventWithJobs: Math.round((stats.cpuUs - statsBefore.cpuUs) / Math.max(1, (stats.outcomes?.handled ?? 0) - (statsBefore.outcomes?.handled ?? 0))),
      // Follows whose restore is still owed (the owed-restore pass clears each follower's mark).
      unfinished: owed,
      jobs: stats.jobs ?? {},
      wechatCalls: wechatEnd.wechatCalls ?? {},
      wechatCpuPct: Math.round(((wechatAfter.cpuUs - wechatBefore.cpuUs) / 1000 / wallMs) * 1000) / 10,
    };
  }
  if (kind !== 'a') result.replyCheck = checkReplies([warm, run]);
  if (backend) {
    const counts = await waitForStableCounts(backend);
    const rows = await backend.followerOpenids();
    const replied = [...warm.repliedOpenids, ...run.repliedOpenids];
    const missing = replied.filter((id) => !rows.has(id)).length;
    const inFlightAtStop = warm.sent - warm.responses + (run.sent - run.responses);
    const unread = counts.followers - (replied.length - missing);
    // A request cut off when autocannon stops is still committed by the server; its reply is just never read.
    const ok = missing === 0 && unread >= 0 && unread <= inFlightAtStop + warm.successBodies + run.successBodies;
    result.rowsCheck = {
      ok,
      ...counts,
      replies: replied.length,
      inFlightAtStop,
      keysDeleted: 0,
      detail: `${missing} replied openids without a row; ${unread} rows whose reply was never read (≤ ${inFlightAtStop} cut off in flight${warm.successBodies + run.successBodies ? ` + ${warm.successBodies + run.successBodies} answered 'success'` : ''})`,
    };
  }
  await child.stop();
  cleanups.pop();
  if (wechat) {
    await wechat.stop();
    cleanups.pop();
  }
  if (backend) {
    result.rowsCheck!.keysDeleted = (await backend.drop()).keysDeleted;
    cleanups.pop();
  }
  return result;
}

/**
 * An event is lost when WeChat would have to assume it failed (an error, a timeout, a non-2xx) or when it was
 * answered but its effect is missing (a reply without its follower row), or its job failed for good.
 */
function lostEvents(r: ScenarioResult): { total: number; detail: string } {
  const f = [r.warm, r.run];
  const errors = f.reduce((n, x) => n + x.errors + x.timeouts + x.non2xx, 0);
  const missingRows = r.rowsCheck!.ok ? 0 : Math.max(1, r.rowsCheck!.replies - r.rowsCheck!.followers);
  const failedJobs = Object.entries(r.drain?.jobs ?? {}).filter(([k]) => k.endsWith('.failed')).reduce((n, [, v]) => n + v, 0);
  const unfinished = r.drain?.unfinished ?? 0;
  return { total: errors + missingRows + failedJobs + unfinished, detail: `${errors} errors/timeouts/non-2xx, ${missingRows} replies without their row, ${failedJobs} job attempts failed, ${unfinished} restores still owed` };
}

const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
const pad = (s: string | number, n: number) => String(s).padStart(n);
const mb = (bytes: number) => Math.round(bytes / 1048576);

function printTable(results: ScenarioResult[]) {
  console.log(`\n${'scenario'.padEnd(32)}${pad('req/s', 9)}${pad('p50', 11)}${pad('p99', 11)}${pad('mean', 11)}${pad('max', 11)}${pad('2xx', 9)}${pad('non2xx', 8)}${pad('errors', 8)}${pad('timeouts', 9)}${pad('RSS MB', 8)}`);
  for (const r of results) {
    const f = r.run;
    console.log(`${LABELS[r.kind].padEnd(32)}${pad(Math.round(f.rps), 9)}${pad(ms(f.p50), 11)}${pad(ms(f.p99), 11)}${pad(ms(f.latencyMean), 11)}${pad(ms(f.latencyMax), 11)}${pad(f.status2xx, 9)}${pad(f.non2xx, 8)}${pad(f.errors, 8)}${pad(f.timeouts, 9)}${pad(mb(r.child.rss), 8)}`);
  }
  for (const r of results) {
    const notes: string[] = [];
    const c = r.cpu;
    notes.push(`CPU during the run (% of one core): server ${c.server}, load generator ${c.loadGen}, MariaDB ${c.mariadb}, Redis ${c.redis}, other processes ${c.other}; machine ${c.machineBusyPct}% busy`);
    if (c.other > 25) notes.push(`WARNING: processes outside this bench used ${c.other}% of a core during the run; figures are noisy`);
    if (r.signMs) notes.push(`requests: ${r.run.sent} sent of ${r.signMs.runPoolSize} pre-signed (${Math.round(r.signMs.run)} ms to sign); signed live (pool ran dry): warm-up ${r.warm.liveSigned}, run ${r.run.liveSigned}`);
    if (r.kind !== 'a') notes.push(`200 replies ${r.run.replies}, 200 'success' ${r.run.successBodies}`);
    if (r.run.sampleOther) notes.push(`first non-200: ${r.run.sampleOther}`);
    if (r.perRequest) notes.push(`per response, counted in the server process at the client libraries (every Redis connection incl. BullMQ's; every SQL statement; commits = COMMITs + autocommit writes): ${JSON.stringify(r.perRequest)}`);
    if (r.drain) notes.push(`after the run: owed restores ${r.drain.unfinished ? `NOT drained (${r.drain.unfinished} left after ${r.drain.ms} ms)` : `drained in ${r.drain.ms} ms`} (server CPU per event with its job, run to drained: ${r.drain.cpuUsPerEventWithJobs} µs): ${JSON.stringify(r.drain.jobs)}; sandbox WeChat API answered ${JSON.stringify(r.drain.wechatCalls)} (its CPU during the run ${r.drain.wechatCpuPct}% of a core)`);
    if (r.child.outcomes) notes.push(`server outcomes ${JSON.stringify(r.child.outcomes)}`);
    if (r.replyCheck) notes.push(`replies ${r.replyCheck.ok ? 'OK' : 'FAIL'}: ${r.replyCheck.detail}`);
    if (r.rowsCheck) {
      const k = r.rowsCheck;
      notes.push(`followers rows ${k.followers} vs 200 non-'success' replies ${k.replies} (warm-up + run) → ${k.ok ? 'OK' : 'FAIL'}: ${k.detail}`);
      notes.push(`cleanup: schema dropped, ${k.keysDeleted} Redis keys deleted`);
    }
    if (notes.length) console.log(`\n${LABELS[r.kind]}:\n  - ${notes.join('\n  - ')}`);
  }
}

async function main() {
  const o = { seconds: Number(args.seconds), warmup: Number(args.warmup), connections: Number(args.connections) };
  const kinds = args.only.split(',').map((s) => s.trim()).filter((s): s is ServerKind => s === 'a' || s === 'b' || s === 'c');
  console.log(`webhook bench: ${o.connections} connections, ${o.warmup} s warm-up + ${o.seconds} s measured, node ${process.version}, ${cpus().length} CPUs`);
  const results: ScenarioResult[] = [];
  for (const kind of kinds) {
    process.stdout.write(`running ${LABELS[kind]} …\n`);
    results.push(await scenario(kind, { ...o, profile: args['cpu-prof'] }));
  }
  printTable(results);

  const by = Object.fromEntries(results.map((r) => [r.kind, r])) as Partial<Record<ServerKind, ScenarioResult>>;
  const ratio = (x?: ScenarioResult, y?: ScenarioResult) => (x && y ? Math.round((x.run.rps / y.run.rps) * 100) / 100 : null);
  const ratios = { c_over_a: ratio(by.c, by.a), c_over_b: ratio(by.c, by.b) };
  const targets = by.b && by.c ? { throughput: ratios.c_over_b! >= TARGET_RATIO ? 'PASS' : 'MISS', p99: by.c.run.p99 <= by.b.run.p99 ? 'PASS' : 'MISS' } : null;
  console.log(`\nratios: c/a = ${ratios.c_over_a ?? 'n/a'}, c/b = ${ratios.c_over_b ?? 'n/a'}`);
  if (targets && by.b && by.c) {
    console.log(`target c ≥ ${TARGET_RATIO} × b req/s: ${targets.throughput} (${Math.round(by.c.run.rps)} vs ${Math.round(TARGET_RATIO * by.b.run.rps)} needed)`);
    console.log(`target c p99 ≤ b p99:     ${targets.p99} (${ms(by.c.run.p99)} vs ${ms(by.b.run.p99)})`);
  }
  const lost = by.c?.rowsCheck ? lostEvents(by.c) : undefined;
  if (lost) console.log(`events lost in (c): ${lost.total} (${lost.detail})`);
  for (const r of results.filter((x) => x.profile)) {
    const events = r.run.responses;
    // The profile samples wall time on the main thread (preemption by other processes included); its shares,
    // applied to the CPU time the process really used, give CPU µs per event by component.
    const rows = summarizeByComponent(r.profile!, events);
    const cpuPerEvent = r.cpuUsRun / Math.max(events, 1);
    console.log(`\nCPU of ${LABELS[r.kind]} during the measured run by component (${r.profile}), over ${events} responses: ${Math.round(cpuPerEvent)} µs CPU per response in all`);
    console.table(rows.map((x) => ({ ...x, cpuUsPerEvent: x.component === 'idle' ? 0 : Math.round((x.pctOfBusy / 100) * cpuPerEvent) })));
    if (process.env.BENCH_PROFILE_TOP) console.table(summarizeProfile(r.profile!, Number(process.env.BENCH_PROFILE_TOP)).byFunction);
  }
  const summary = Object.fromEntries(results.map((r) => [r.kind, {
    rps: Math.round(r.run.rps), p50: r.run.p50, p99: r.run.p99, mean: r.run.latencyMean, max: r.run.latencyMax,
    responses: r.run.responses, cpuUsPerResponse: Math.round(r.cpuUsRun / Math.max(r.run.responses, 1)), status2xx: r.run.status2xx, non2xx: r.run.non2xx, errors: r.run.errors, timeouts: r.run.timeouts,
    statusCodes: r.run.statusCodes, ...(r.kind === 'a' ? {} : { replies: r.run.replies, success: r.run.successBodies }), rssMB: mb(r.child.rss), cpu: r.cpu, perRequest: r.perRequest, outcomes: r.child.outcomes,
    drain: r.drain, replyCheck: r.replyCheck?.ok, rowsCheck: r.rowsCheck && { ok: r.rowsCheck.ok, followers: r.rowsCheck.followers, replies: r.rowsCheck.replies, inFlightAtStop: r.rowsCheck.inFlightAtStop },
  }]));
  console.log(JSON.stringify({ bench: 'webhook', at: new Date().toISOString(), node: process.version, cpus: cpus().length, ...o, results: summary, ratios, targets, lost }));
}

async function runCleanups() {
  while (cleanups.length) await cleanups.pop()!().catch((err) => console.error('cleanup failed:', err));
}

if (args.serve) {
  void serveChild(args.serve as ServerKind, Number(args.port));
} else {
  process.once('SIGINT', () => void runCleanups().finally(() => process.exit(130)));
  main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => runCleanups());
}
