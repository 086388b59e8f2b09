import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'sandbox-server.json';

/**
 * In sandbox mode "WeChat" is the running server itself. A command run beside it (statements:import, the review
 * queues) must reach that server to send its notices, and it shares the server's DATA_DIR but not necessarily its
 * PORT (`PORT=3100 npm start` in one terminal, `npm run statements:import` in another). The server records where it
 * listens; commands read it.
 */
export function recordSandboxServer(dataDir: string, port: number): void {
  writeFileSync(join(dataDir, FILE), JSON.stringify({ port, pid: process.pid }));
}

/** The port of the sandbox server of this DATA_DIR while that process still runs; undefined otherwise. */
export function runningSandboxServerPort(dataDir: string): number | undefined {
  let recorded: { port?: unknown; pid?: unknown };
  try {
    recorded = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as typeof recorded;
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(recorded.port) || !Number.isSafeInteger(recorded.pid)) return undefined;
  try {
    process.kill(recorded.pid as number, 0); // signal 0: only asks whether the process exists
  } catch {
    return undefined;
  }
  return recorded.port as number;
}
