import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { currentCspNonce } from './http/security-headers';
import { projectRoot } from './paths';

export type RenderPage = (template: string, data?: Record<string, unknown>) => string;

/**
 * Nunjucks over views/, autoescaped. Templates are cached unless `watch` (dev). `globals` are read by every template
 * (the hotline, the account's names); `cspNonce` is the current request's script nonce (security-headers.ts).
 */
export function createViews(opts: { dir?: string; watch?: boolean; globals?: Record<string, unknown> } = {}): RenderPage {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(opts.dir ?? join(projectRoot(), 'views'), { watch: false, noCache: opts.watch ?? false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  for (const [name, value] of Object.entries(opts.globals ?? {})) env.addGlobal(name, value);
  return (template, data = {}) => env.render(template, { cspNonce: currentCspNonce(), ...data });
}
