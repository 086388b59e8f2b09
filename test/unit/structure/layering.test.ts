import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Shared plumbing (src/lib) must not know the features, providers or settings built on it: the composition root
 * (src/composition.ts, src/entities.ts) hands it what it needs. A static read of the sources, no I/O beyond them.
 */
const SRC = resolve(__dirname, '../../../src');
const FORBIDDEN = ['modules', 'providers', 'config'].map((d) => join(SRC, d));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.(ts|js)$/.test(e.name) ? [full] : [];
  });
}

/** Every module specifier: static imports and re-exports (type-only included), import() and require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) found.push(m[1]);
  return found;
}

/** `file → specifier` for each import of src/lib that reaches into src/modules, src/providers or src/config. */
function forbiddenLibImports(root = SRC): string[] {
  const offending: string[] = [];
  for (const file of sourceFiles(join(root, 'lib'))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (FORBIDDEN.some((dir) => target === dir || target.startsWith(`${dir}/`))) offending.push(`${relative(root, file)} → ${spec}`);
    }
  }
  return offending;
}

describe('layering', () => {
  it('When src/lib is scanned, then no file imports a feature, a provider or the settings', () => {
    expect(forbiddenLibImports()).toEqual([]);
  });

  it('When the sources are scanned, then sandbox mode is read from config.sandbox, never derived again from the WeChat mode', () => {
    const rederived = sourceFiles(SRC).filter((file) => /wechat\.mode\s*[!=]==\s*'(sandbox|real)'/.test(readFileSync(file, 'utf8')));
    expect(rederived.map((file) => relative(SRC, file))).toEqual([]);
  });

  it('When an import is written in any form, then the scan sees it', () => {
    const text = [
      "import { a } from '../../modules/x';",
      "import type { B } from '../config';",
      "export { c } from './d';",
      "import {\n  e,\n  f,\n} from '../providers/y';",
      "const g = await import('../../config/settings');",
      "import '../modules/side-effect';",
    ].join('\n');
    expect(specifiers(text)).toEqual(expect.arrayContaining(['../../modules/x', '../config', './d', '../providers/y', '../../config/settings', '../modules/side-effect']));
  });
});
