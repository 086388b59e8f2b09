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
  // A global read at each lookup, not a render variable: macros imported without context (`{% from … import %}`)
  // see globals but not the render's data, and their <style> elements need the nonce too.
  Object.defineProperty((env as unknown as { globals: object }).globals, 'cspNonce', { get: currentCspNonce, enumerable: true });
  return (template, data = {}) => env.render(template, data);
}
