import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * The pages' Content-Security-Policy refuses inline event handlers and javascript: URLs, and runs an inline script
 * or style element only with the request's nonce: a view that breaks this works nowhere, so catch it here.
 */
const VIEWS = join(__dirname, '../../../views');

function views(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? views(join(dir, e.name)) : e.name.endsWith('.njk') ? [join(dir, e.name)] : []));
}

const all = views(VIEWS).map((file) => ({ file: relative(VIEWS, file), text: readFileSync(file, 'utf8') }));

describe('views and the page policy', () => {
  it('When the views are read, then there are some (the scan below is not vacuous)', () => {
    expect(all.length).toBeGreaterThan(20);
  });

  it('When a view is scanned, then no element has an inline event handler attribute (on…=)', () => {
    const found = all.flatMap(({ file, text }) => [...text.matchAll(/<[a-z][^>]*\son[a-z]+\s*=/gi)].map((m) => `${file}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it('When a view is scanned, then no link or form uses a javascript: URL', () => {
    const found = all.flatMap(({ file, text }) => [...text.matchAll(/javascript:/gi)].map((m) => `${file} at ${m.index}`));
    expect(found).toEqual([]);
  });

  it('When a view has an inline <script> or <style>, then it carries nonce="{{ cspNonce }}" (scripts by src, JSON data blocks and WeChat open-tag templates need none)', () => {
    // <script type="text/wxtag-template"> is raw text the browser never runs: WeChat renders it (and the <style> in it)
    // inside its open tag. Its content is skipped.
    const withoutWxTemplates = (text: string) => text.replace(/<script type="text\/wxtag-template">[\s\S]*?<\/script>/g, '');
    const found = all.flatMap(({ file, text }) => [...withoutWxTemplates(text).matchAll(/<(script|style)\b([^>]*)>/g)]
      .filter(([, name, attrs]) => name === 'style' || !/\bsrc=|type="application\/json"/.test(attrs!))
      .filter(([, , attrs]) => !attrs!.includes('nonce="{{ cspNonce }}"'))
      .map(([tag]) => `${file}: ${tag}`));
    expect(found).toEqual([]);
  });

  it('When the scan meets a handler, then it reports it (the patterns work)', () => {
    expect('<button onclick="x()">'.match(/<[a-z][^>]*\son[a-z]+\s*=/gi)).not.toBeNull();
    expect('<select name="a" data-autosubmit>'.match(/<[a-z][^>]*\son[a-z]+\s*=/gi)).toBeNull();
  });
});
