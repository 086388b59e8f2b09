import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { createLogger } from '../src/lib/logger';
import { inboundXml, signedWebhookRequest } from '../src/modules/wechat-webhook/outbound-request';
import { createBenchBackend } from './backend';
import { IDENTITY } from './requests';

/**
 * npx tsx bench/reminder-reports.ts [-- --count 5000 --connections 100]
 * How many TEMPLATESENDJOBFINISH reports per second /wechat absorbs on MySQL + Redis (every check on, encrypted,
 * each report its own msgid, written to template_send_reports in group commits): the ceiling REMINDER_SENDS_PER_SECOND
 * must stay well under. Requests are signed before the measured run.
 */
const { values: args } = parseArgs({ options: { count: { type: 'string', default: '5000' }, connections: { type: 'string', default: '100' } } });
const COUNT = Number(args.count);
const CONNECTIONS = Number(args.connections);

async function main() {
  const backend = await createBenchBackend();
  const config = buildConfig(parseSettings({ ...backend.env, PORT: '0' }), generateSandboxSecrets());
  const deps = await openDeps(config, { logger: createLogger('silent') });
  const server = createServer(createApp(deps).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    for (const event of ['BENCH_NO_HANDLER', 'TEMPLATESENDJOBFINISH', 'BENCH_NO_HANDLER', 'TEMPLATESENDJOBFINISH']) await measure(port, event, deps);
  } finally {
    server.close();
    await closeDeps(deps);
    await backend.drop();
  }
}

/** One run of COUNT reports; an event with no handler (acknowledged without the store or the database) is the baseline. */
async function measure(port: number, event: string, deps: Awaited<ReturnType<typeof openDeps>>) {
  {
    const now = Math.floor(Date.now() / 1000);
    const base = 3_100_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12)) * 10_000n;
    const requests = Array.from({ length: COUNT }, (_, i) => signedWebhookRequest(IDENTITY, inboundXml({
      toUser: 'gh_bench', fromUser: `oBenchReport${i % 500}`, createTime: now, msgType: 'event', Event: event,
      MsgID: String(base + BigInt(i)), Status: i % 50 === 0 ? 'failed:user block' : 'success',
    }), { timestamp: now }));
    let next = 0;
    let failed = 0;
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (next < requests.length) {
        const req = requests[next++];
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}${req.path}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: req.body });
        if ((await res.text()) !== 'success') failed++;
        latencies.push(performance.now() - t0);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const [[{ n }]] = [await deps.db.query('SELECT COUNT(*) AS n FROM template_send_reports')] as Array<Array<{ n: number }>>;
    latencies.sort((a, b) => a - b);
    console.log(JSON.stringify({
      event, reports: COUNT, connections: CONNECTIONS, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(COUNT / seconds), failed, recordedSoFar: Number(n),
      p50Ms: Math.round(latencies[Math.floor(latencies.length / 2)]), p99Ms: Math.round(latencies[Math.floor(latencies.length * 0.99)]),
    }));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
