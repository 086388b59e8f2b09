import type Koa from 'koa';
import { generate } from 'otplib';
import request from 'supertest';
import { type Deps } from '../../src/deps';
import { createConsoleApp } from '../../src/modules/console/app';
import { OperatorService } from '../../src/modules/console/operators';
import { type OperatorRole } from '../../src/modules/console/roles';
import { csrfOf } from './h5-login';

export interface TestOperator {
  id: number;
  username: string;
  password: string;
  totpSecret: string;
}

export type ConsoleAgent = ReturnType<typeof request.agent> & { csrf: string };

let seq = 0;

/** Creates an operator directly (as `npm run admin:create` would): argon2 password, sealed TOTP secret. */
export async function createOperator(deps: Deps, opts: { username?: string; roles: OperatorRole[]; password?: string; displayName?: string }): Promise<TestOperator> {
  const username = opts.username ?? `op${Date.now().toString(36)}${++seq}`;
  const password = opts.password ?? `correct horse ${username}`;
  const { operator, totpSecret } = await new OperatorService(deps).create({ username, displayName: opts.displayName ?? `测试${username}`, password, roles: opts.roles });
  return { id: operator.id, username: operator.username, password, totpSecret };
}

/**
 * A TOTP code the server has not accepted yet for this operator: the current step's, or the next step's when the
 * current one was already used (the server accepts one step either side). Throws when both are spent.
 */
export async function freshTotp(deps: Deps, op: TestOperator): Promise<string> {
  const row = await new OperatorService(deps).byId(op.id);
  const now = Math.floor(deps.clock.nowMs() / 1000);
  const current = Math.floor(now / 30);
  const last = row?.totpLastStep ?? -1;
  const step = Math.max(current, last + 1);
  if (step > current + 1) throw new Error('freshTotp: this step and the next were used already; advance the clock');
  return generate({ secret: op.totpSecret, epoch: step * 30 });
}

/** The code of the step the server accepted last (for reuse tests). */
export const totpAt = (secret: string, epochSec: number) => generate({ secret, epoch: epochSec });

/** A console app over these deps (what main.ts serves on ADMIN_PORT); `console` overrides its settings. */
export function consoleAppFor(deps: Deps, console: Partial<Deps['config']['console']> = {}): Koa {
  const config = { ...deps.config, console: { ...deps.config.console, ...console } };
  return createConsoleApp({ ...deps, config } as Deps);
}

/** A fresh browser: an agent with its own cookie jar, holding the login page's CSRF token. */
export async function anonymousAgent(app: Koa): Promise<ConsoleAgent> {
  const agent = request.agent(app.callback()) as ConsoleAgent;
  const page = await agent.get('/login');
  if (page.status !== 200) throw new Error(`GET /login answered ${page.status}`);
  agent.csrf = csrfOf(page.text);
  return agent;
}

/** Logs in with password + a fresh TOTP code; `agent.csrf` is the session's token after login. */
export async function loginAgent(app: Koa, deps: Deps, op: TestOperator): Promise<ConsoleAgent> {
  const agent = await anonymousAgent(app);
  const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: op.username, password: op.password, code: await freshTotp(deps, op), next: '/' });
  if (res.status !== 302 || res.headers.location !== '/') throw new Error(`login of ${op.username} failed: ${res.status} ${res.text.slice(0, 300)}`);
  const home = await agent.get('/');
  if (home.status !== 200) throw new Error(`home after login answered ${home.status}`);
  agent.csrf = csrfOf(home.text);
  return agent;
}

/** The console listening on a loopback port (as main.ts serves it on ADMIN_PORT), for browser tests. */
export async function startConsoleListening(deps: Deps, console: Partial<Deps['config']['console']> = {}): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer(consoleAppFor(deps, console).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
