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
