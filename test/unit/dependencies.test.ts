import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Every copy of a package installed anywhere under node_modules (nested copies included). */
function installedVersions(name: string, dir = resolve(__dirname, '../../node_modules')): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (entry.startsWith('@')) {
      found.push(...installedVersions(name, full));
      continue;
    }
    if (entry === name) found.push(JSON.parse(readFileSync(join(full, 'package.json'), 'utf8')).version);
    const nested = join(full, 'node_modules');
    if (statSync(full).isDirectory() && safeIsDir(nested)) found.push(...installedVersions(name, nested));
  }
  return found;
}
const safeIsDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

describe('dependency advisories', () => {
  it('When co-wechat pulls in xml2js, then every installed copy is 0.5 or later (CVE-2023-0842, prototype pollution)', () => {
    const versions = installedVersions('xml2js');
    expect(versions.length).toBeGreaterThan(0);
    for (const v of versions) {
      const [major, minor] = v.split('.').map(Number);
      expect(major > 0 || minor >= 5).toBe(true);
    }
  });
});
