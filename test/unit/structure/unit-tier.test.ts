import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The unit project does no I/O: no database, store, network, child process, PKCS#11 token or temporary file.
 * Such tests belong in test/integration (on both backends, or in test/integration/no-backend when no database
 * is involved). A static read of the test sources; committed fixtures may still be read.
 */
const UNIT = resolve(__dirname, '..');
const FORBIDDEN_MODULES = [
  'node:child_process', 'child_process', 'node:net', 'node:http', 'node:https', 'node:dgram',
  'better-sqlite3', 'mysql2', 'mysql2/promise', 'ioredis', 'bullmq', 'graphene-pk11', 'pkcs11js', 'supertest', 'playwright-core',
];
/** Test helpers and sources that open a backend, a port, a process or a token. */
const FORBIDDEN_PATHS = [/helpers\/(harness|use-test-app|use-phone-app|softhsm|browser|process|listening|backend-\w+)$/, /src\/(composition|main)$/, /src\/lib\/db\/data-source$/];
const FORBIDDEN_CALLS = [/\bmkdtemp(Sync)?\(/, /\bwriteFile(Sync)?\(/, /\bopenssl\(/, /\bfetch\(/];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

function problemsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const name = relative(UNIT, file);
  const specs = [...text.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);
  return [
    ...specs.filter((s) => FORBIDDEN_MODULES.includes(s) || FORBIDDEN_PATHS.some((p) => p.test(s))).map((s) => `${name} imports ${s}`),
    ...FORBIDDEN_CALLS.filter((call) => call.test(text)).map((call) => `${name} calls ${call.source}`),
  ];
}

describe('the unit tier', () => {
  it('When the unit tests are scanned, then none opens a database, a store, a port, a process, a token or a temporary file', () => {
    const self = resolve(__filename);
    expect(testFiles(UNIT).filter((f) => f !== self).flatMap(problemsOf)).toEqual([]);
  });
});
