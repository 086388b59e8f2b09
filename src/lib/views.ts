import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { projectRoot } from './paths';

export type RenderPage = (template: string, data?: Record<string, unknown>) => string;

/** Nunjucks over views/, autoescaped. Templates are cached unless `watch` (dev). */
export function createViews(opts: { dir?: string; watch?: boolean } = {}): RenderPage {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(opts.dir ?? join(projectRoot(), 'views'), { watch: false, noCache: opts.watch ?? false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  return (template, data = {}) => env.render(template, data);
}
