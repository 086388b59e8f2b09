import { readdirSync, readFileSync } from 'node:fs';

/**
 * Where the machine's CPU went during a run (Linux /proc; zeros elsewhere): the server child, the load
 * generator, MariaDB and Redis, and everything else — other processes on the box make the figures noisy.
 */
const TICK_MS = 10; // USER_HZ is 100 on Linux

interface Snapshot {
  at: number;
  busyTicks: number;
  totalTicks: number;
  services: Record<string, number>;
  parentUs: number;
}

const SERVICES = ['mariadbd', 'mysqld', 'redis-server'];

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function processTicks(pid: string): number {
  const stat = read(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime + stime
}

let servicePids: Record<string, string[]> | undefined;
function findServices(): Record<string, string[]> {
  if (servicePids) return servicePids;
  servicePids = {};
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return servicePids;
  }
  for (const pid of pids) {
    const comm = read(`/proc/${pid}/comm`).trim();
    if (SERVICES.includes(comm)) (servicePids[comm === 'mysqld' ? 'mariadbd' : comm] ??= []).push(pid);
  }
  return servicePids;
}

export function cpuSnapshot(): Snapshot {
  const line = read('/proc/stat').split('\n')[0] ?? '';
  const v = line.split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  const idle = (v[3] || 0) + (v[4] || 0);
  const services: Record<string, number> = {};
  for (const [name, pids] of Object.entries(findServices())) services[name] = pids.reduce((n, p) => n + processTicks(p), 0);
  const usage = process.cpuUsage();
  return { at: Date.now(), busyTicks: total - idle, totalTicks: total, services, parentUs: usage.user + usage.system };
}

export interface CpuShare {
  /** Percent of one core, over the run's wall time. */
  server: number;
  loadGen: number;
  mariadb: number;
  redis: number;
  other: number;
  /** Percent of the whole machine that was busy. */
  machineBusyPct: number;
}

export function cpuShare(before: Snapshot, after: Snapshot, serverCpuUs: number): CpuShare {
  const wallMs = after.at - before.at || 1;
  const pct = (ms: number) => Math.round((ms / wallMs) * 1000) / 10;
  const busyMs = (after.busyTicks - before.busyTicks) * TICK_MS;
  const svc = (name: string) => ((after.services[name] ?? 0) - (before.services[name] ?? 0)) * TICK_MS;
  const server = serverCpuUs / 1000;
  const loadGen = (after.parentUs - before.parentUs) / 1000;
  const mariadb = svc('mariadbd');
  const redis = svc('redis-server');
  const totalTicks = after.totalTicks - before.totalTicks || 1;
  return {
    server: pct(server),
    loadGen: pct(loadGen),
    mariadb: pct(mariadb),
    redis: pct(redis),
    other: pct(Math.max(0, busyMs - server - loadGen - mariadb - redis)),
    machineBusyPct: Math.round(((after.busyTicks - before.busyTicks) / totalTicks) * 1000) / 10,
  };
}
