import { AsyncLocalStorage } from 'node:async_hooks';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { currentCspNonce } from '../../lib/http/security-headers';
import { projectRoot } from '../../lib/paths';
import { type RenderPage } from '../../lib/views';
import { type OperatorIdentity } from './operators';
import { ROLE_LABELS } from './roles';

export interface NavItem { path: string; title: string; active: boolean }

/** What every console page reads without the route passing it: set once per request by the app. */
export interface ConsolePageScope {
  operator?: OperatorIdentity;
  csrfToken?: string;
  nav: NavItem[];
  path: string;
  /** Version of /static/console/console.css, for a long-cached URL. */
  assetVersion?: string;
}

const scope = new AsyncLocalStorage<ConsolePageScope>();

/** Runs the rest of the request with these page globals (nav, operator, csrfToken). */
export const withPageScope = <T>(value: ConsolePageScope, fn: () => Promise<T>) => scope.run(value, fn);
export const pageScope = () => scope.getStore();

/**
 * The console's nunjucks environment over views/ (pages live in views/console/). `operator`, `csrfToken`, `nav`
 * and `cspNonce` are globals read at lookup from the request's scope, so a section's route renders with
 * `render('console/orders/list.njk', data)` and the layout still knows who is logged in.
 */
export function createConsoleViews(opts: { watch: boolean; globals?: Record<string, unknown> }): RenderPage {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(join(projectRoot(), 'views'), { watch: false, noCache: opts.watch }), { autoescape: true, throwOnUndefined: false });
  for (const [name, value] of Object.entries(opts.globals ?? {})) env.addGlobal(name, value);
  env.addGlobal('roleLabels', ROLE_LABELS);
  env.addFilter('datetime', (value: unknown) => formatChinaTime(value));
  const globals = (env as unknown as { globals: object }).globals;
  const getters: Record<string, () => unknown> = {
    cspNonce: currentCspNonce,
    operator: () => pageScope()?.operator,
    csrfToken: () => pageScope()?.csrfToken,
    nav: () => pageScope()?.nav ?? [],
    currentPath: () => pageScope()?.path,
    assetVersion: () => pageScope()?.assetVersion,
  };
  for (const [name, get] of Object.entries(getters)) Object.defineProperty(globals, name, { get, enumerable: true });
  return (template, data = {}) => env.render(template, data);
}

/** 2026-12-03 15:04:05 in Beijing time (operators read China time whatever the server's zone). */
export function formatChinaTime(value: unknown): string {
  if (value === null || value === undefined || value === '') return '';
  const date = value instanceof Date ? value : new Date(value as string | number);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}
