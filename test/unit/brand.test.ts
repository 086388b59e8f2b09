import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BRAND } from '../../src/config/brand';

/** The hotline and the account's names live in src/config/brand.ts only; pages read the view global `brand`. */
const ROOT = join(__dirname, '../..');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : /\.(ts|njk|js)$/.test(e.name) ? [join(dir, e.name)] : []));
}

describe('the hotline and the account names in one place', () => {
  it('When src/, views/ and public/ are scanned, then only src/config/brand.ts spells out the hotline or the account name', () => {
    const all = ['src', 'views', 'public'].flatMap((d) => files(join(ROOT, d)));
    expect(all.length).toBeGreaterThan(100);
    const found = all
      .filter((f) => relative(ROOT, f) !== join('src', 'config', 'brand.ts'))
      .filter((f) => { const text = readFileSync(f, 'utf8'); return text.includes(BRAND.hotline) || text.includes(BRAND.accountName); })
      .map((f) => relative(ROOT, f));
    expect(found).toEqual([]);
  });
});
