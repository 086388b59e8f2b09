import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { spawnMain, startMain } from '../helpers/process';

/** The README's promise, checked on the real entry point: it starts on the embedded default, and stops cleanly. */
describe('process start and stop', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cam-start-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('When started with no settings, then it serves the embedded default in sandbox mode and exits 0 on SIGTERM', async () => {
    const server = await startMain({ DATA_DIR: dataDir });
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', database: { kind: 'sqlite' }, cache: { kind: 'memory' }, wechat: 'sandbox' });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('When a request is in flight at SIGTERM, then it is finished before the process exits', async () => {
    const server = await startMain({ DATA_DIR: dataDir });
    // A webhook POST whose body is still arriving when the signal comes: the request is active, not idle.
    const body = '<xml><ToUserName>gh</ToUserName></xml>';
    const status = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${server.url}/wechat?timestamp=1&nonce=1`, { method: 'POST', headers: { 'content-type': 'text/xml', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 100);
    });
    expect(await status).toBe(403); // answered (stale timestamp), not cut off
    expect(await server.exited).toBe(0);
  });

  it.each([
    ['a setting is malformed', { DATABASE_URL: 'postgres://nope' }, 'DATABASE_URL'],
    ['the database cannot be reached', { DATABASE_URL: 'mysql://root@127.0.0.1:1/none' }, 'DATABASE_URL'],
    ['Redis cannot be reached', { REDIS_URL: 'redis://127.0.0.1:1/0' }, 'REDIS_URL'],
    ['production is asked for without its settings', { APP_ENV: 'production' }, 'WECHAT_APPID: required when APP_ENV=production'],
  ])('When %s, then the start stops (exit 1) with a message naming it', async (_case, env, named) => {
    const proc = spawnMain({ DATA_DIR: dataDir, PORT: '0', ...env });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(named);
  });
});
