import dotenv from 'dotenv';
import { closeDeps, openDeps } from '../composition';
import { type AppConfig } from '../config';
import { type Deps } from '../deps';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load';
import { runningSandboxServerPort } from '../config/sandbox-server';
import { SettingsError } from '../config/settings';
import { registerJobHandlers } from '../job-handlers';
import { MemoryJobQueue } from '../lib/jobs/memory';
import { createLogger } from '../lib/logger';
import { WechatApiError } from '../providers/wechat-api/errors';
import { type WechatApi } from '../providers/wechat-api/types';
import { terminalText } from '../lib/terminal-text';

/** Where a command reads its settings and writes its output: process.env and the console, or a test's own. */
export interface CliIo {
  env: Record<string, string | undefined>;
  out(line: string): void;
  err(line: string): void;
}

/** A failure the command explains itself; printed as is, exit code 1. */
export class CliError extends Error {}

/**
 * Builds the configuration exactly as the server does and opens its dependencies (database and store: the
 * token cache lives in the store, so a command reuses the server's token instead of fetching a new one),
 * runs `fn` with the WeChat client and closes everything again.
 */
export async function withWechatApi<T>(io: CliIo, fn: (ctx: { api: WechatApi; config: AppConfig }) => Promise<T>): Promise<T> {
  const config = loadConfig(besideSandboxServer(io.env));
  if (config.sandbox) await requireSandboxServer(config, io);
  // Commands print their own result; the log only speaks up for problems unless LOG_LEVEL asks for more.
  const logger = createLogger(io.env.LOG_LEVEL ? config.logLevel : 'warn');
  const deps = await openDeps(config, { logger });
  try {
    return await fn({ api: deps.wechatApi, config });
  } finally {
    await closeDeps(deps);
  }
}

/**
 * Like withWechatApi, for commands that work on the data too (imports, batches, seeding): the whole dependency
 * set, opened as the server opens it. `wechat: true` checks first that the sandbox WeChat answers when the
 * command will call it.
 */
/**
 * Without PORT or WECHAT_API_BASE a command would look for the sandbox WeChat on the default port; when the
 * sandbox server of the same DATA_DIR runs elsewhere (`PORT=3100 npm start`), use its port.
 */
export function besideSandboxServer(env: Record<string, string | undefined>): Record<string, string | undefined> {
  if (env.PORT || env.WECHAT_API_BASE || env.APP_ENV === 'production') return env;
  const port = runningSandboxServerPort(resolve(env.DATA_DIR || './data'));
  return port ? { ...env, PORT: String(port) } : env;
}

/** How long a command on the embedded default waits for the jobs it queued (a notice retries after 1 s and 2 s). */
const IN_PROCESS_JOBS_WAIT_MS = 10_000;

export async function withDeps<T>(io: CliIo, opts: { wechat: boolean }, fn: (deps: Deps) => Promise<T>): Promise<T> {
  const config = loadConfig(besideSandboxServer(io.env));
  if (opts.wechat && config.sandbox) await requireSandboxServer(config, io);
  const deps = await openDeps(config, { logger: createLogger(io.env.LOG_LEVEL ? config.logLevel : 'warn') });
  // On Redis the server's workers take what a command enqueues (notices after an import or a review). The
  // embedded default's queue lives in this process and dies with it: work it here, then wait for it to finish.
  const inProcess = deps.jobs instanceof MemoryJobQueue ? deps.jobs : undefined;
  if (inProcess) {
    registerJobHandlers(deps);
    await inProcess.start();
  }
  try {
    return await fn(deps);
  } finally {
    const left = inProcess ? await inProcess.idle(IN_PROCESS_JOBS_WAIT_MS) : 0;
    const failed = inProcess?.failedForGood ?? 0;
    if (left || failed) {
      io.err(`${left + failed} background job(s) (WeChat notices) were not done${failed ? ` (${failed} failed, see the log above)` : ''}. ` +
        (config.sandbox ? `In sandbox mode they go to the server at ${config.wechat.apiBase}: is it running, on this PORT and DATA_DIR?` : 'Check the WeChat settings and the log.'));
    }
    await closeDeps(deps);
  }
}

/** In sandbox mode "WeChat" is the local server itself: without it running there is nobody to talk to. */
async function requireSandboxServer(config: AppConfig, io: CliIo): Promise<void> {
  io.out(`Sandbox mode (no WECHAT_* settings): talking to the sandbox WeChat at ${config.wechat.apiBase}`);
  try {
    await fetch(`${config.wechat.apiBase}/`, { signal: AbortSignal.timeout(2000) });
  } catch {
    throw new CliError(
      `The sandbox WeChat at ${config.wechat.apiBase} is not reachable.\n` +
        `Start the app first (npm start, PORT=${config.port}), or set WECHAT_API_BASE to where it runs.`,
    );
  }
}

/** Turns an error into a message without secrets (the client's errors never carry the token or the secret). */
export function describeError(err: unknown): string {
  if (err instanceof WechatApiError) return `WeChat refused ${err.api}: errcode ${err.errcode} ${err.errmsg} (${err.userMessage})`;
  if (err instanceof SettingsError || err instanceof CliError) return err.message;
  return (err as Error).message ?? String(err);
}

/** Entry-point glue: loads .env (before the settings are read), runs the command, sets the exit code. */
export function runCli(main: (io: CliIo, argv: string[]) => Promise<void>): void {
  dotenv.config({ quiet: true });
  // Every line a command prints may carry statement, user or database text: no escape sequence reaches the terminal.
  const io: CliIo = { env: process.env, out: (line) => console.log(terminalText(line, { lines: true })), err: (line) => console.error(terminalText(line, { lines: true })) };
  main(io, process.argv.slice(2)).then(
    () => {
      process.exitCode = 0;
    },
    (err: unknown) => {
      io.err(describeError(err));
      process.exitCode = 1;
    },
  );
}
