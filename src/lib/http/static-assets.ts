import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Koa from 'koa';
import { projectRoot } from '../paths';

export const JS_TYPE = 'application/javascript; charset=utf-8';
export const CSS_TYPE = 'text/css; charset=utf-8';

export interface StaticAssetsOptions {
  /** The folder under public/ (`capc` serves public/capc/ at /static/capc/). */
  folder: string;
  /** File name → Content-Type: only these are served. */
  files: Record<string, string>;
  /** Re-read the files on every request (development), so an edit shows without a restart. */
  reread: boolean;
}

/**
 * A page's own static files (scripts, stylesheets) at /static/<folder>/<name>, served before the session
 * middleware: they carry no state, so no session is loaded or created for them. Read once at start.
 * `version` is a hash of their content, for the page to link `?v=<version>`: such URLs are cached long (a
 * changed file gets a new URL); without it, briefly. The page itself is never cached.
 */
export function staticAssets(options: StaticAssetsOptions): { middleware: Koa.Middleware; version: string } {
  const dir = join(projectRoot(), 'public', options.folder);
  const prefix = `/static/${options.folder}/`;
  const names = Object.keys(options.files);
  const read = () => new Map(names.map((name) => [name, readFileSync(join(dir, name))]));
  let files = read();
  const hash = createHash('sha256');
  for (const name of names) hash.update(files.get(name) as Buffer);
  const version = hash.digest('hex').slice(0, 10);
  const middleware: Koa.Middleware = async (ctx, next) => {
    const name = ctx.path.startsWith(prefix) ? ctx.path.slice(prefix.length) : '';
    if (!Object.hasOwn(options.files, name) || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (options.reread) files = read();
    ctx.type = options.files[name] as string;
    ctx.set('Cache-Control', ctx.query.v ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    ctx.body = files.get(name);
  };
  return { middleware, version };
}
