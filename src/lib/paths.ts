import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The folder holding package.json: views/ and config/ live there, whether running from src/ (tsx) or dist/src/. */
export function projectRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}
