import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * One name for the U-KEY's PIN in everything a user reads: the seed's 证书密码（PIN 码）, or 证书密码 for short.
 * Reads the source tree (pages, page scripts, server and key-agent messages), so it needs no backend.
 */
const ROOT = resolve(__dirname, '../..');
const SCANNED = ['views', 'public', 'src'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(njk|js|ts|css)$/.test(name) ? [path] : [];
  });
}

describe('PIN wording', () => {
  it('When a page, script or message names the PIN, then it says 证书密码 (with PIN 码 only in brackets after it)', () => {
    const offenders: string[] = [];
    for (const file of SCANNED.flatMap((d) => files(join(ROOT, d)))) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        // Other names the walkthrough found: "PIN 码" on its own, "PIN码", "U-KEY 密码", "U盾密码".
        const stripped = line.replace(/证书密码（PIN 码）/g, '');
        if (/PIN ?码|U-?KEY ?密码|U盾密码/.test(stripped)) offenders.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
