import { migrations } from '../../migrations';
import request from 'supertest';
import { entities } from '../../src/entities';
import { createDataSource } from '../../src/lib/db/data-source';
import { runMigrations } from '../../src/lib/db/migrate';
import { createLogger } from '../../src/lib/logger';
import { backend, createTestBackend, startInstance, type TestBackendHandle } from '../helpers/harness';
import { buildConfig } from '../../src/config';
import { parseSettings } from '../../src/config/settings';
import { generateSandboxSecrets } from '../../src/config/sandbox-secrets';

let handle: TestBackendHandle;
beforeAll(async () => {
  handle = await createTestBackend();
});
afterAll(async () => {
  await handle?.drop();
});

const configFor = (h: TestBackendHandle) => buildConfig(parseSettings({ APP_ENV: 'test', ...h.env }), generateSandboxSecrets());

describe(`migrations (${backend})`, () => {
  it('When two instances migrate an empty database at once, then both succeed and every migration is applied exactly once', async () => {
    const config = configFor(handle);
    const [ds1, ds2] = [createDataSource(config.database, { entities }), createDataSource(config.database, { entities })];
    await Promise.all([ds1.initialize(), ds2.initialize()]);
    try {
      const logger = createLogger('silent');
      const results = backend === 'mysql'
        ? await Promise.all([runMigrations(ds1, logger), runMigrations(ds2, logger)])
        // SQLite is one file for one process: the embedded default never has two migrating instances.
        : [await runMigrations(ds1, logger), await runMigrations(ds2, logger)];
      const all = migrations.map((m) => new m().name);
      expect(results.flat().sort()).toEqual([...all].sort());
      const applied = await ds1.query('SELECT name FROM migrations');
      expect(applied.map((r: { name: string }) => r.name).sort()).toEqual([...all].sort());
      const tables = backend === 'mysql'
        ? await ds1.query('SELECT table_name AS name, table_collation AS collation FROM information_schema.tables WHERE table_schema = DATABASE()')
        : await ds1.query("SELECT name FROM sqlite_master WHERE type = 'table'");
      const names = tables.map((t: { name?: string; NAME?: string; TABLE_NAME?: string }) => t.name ?? t.TABLE_NAME);
      expect(names).toEqual(expect.arrayContaining(['followers', 'migrations', 'certificates', 'certificate_bindings', 'binding_codes', 'legacy_bindings']));
      if (backend === 'mysql') {
        for (const t of tables.filter((t: { name: string }) => t.name !== 'migrations')) expect(t.collation ?? t.COLLATION).toMatch(/^utf8mb4/);
      }
      // Down and up again: the last migration is reversible.
      await ds1.undoLastMigration();
      expect(await runMigrations(ds1, logger)).toEqual([all[all.length - 1]]);
    } finally {
      await Promise.all([ds1.destroy(), ds2.destroy()]);
    }
  });
});

describe(`health (${backend})`, () => {
  it('When the database and cache answer, then /healthz is 200 with each dependency and its latency; when the database is gone, 503', async () => {
    const instance = await startInstance(handle, { startJobs: false });
    try {
      const ok = await request(instance.app.callback()).get('/healthz');
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'ok', database: { ok: true, kind: backend === 'mysql' ? 'mysql' : 'sqlite' }, cache: { ok: true } });
      expect(typeof ok.body.database.ms).toBe('number');
      await instance.deps.db.destroy();
      const down = await request(instance.app.callback()).get('/healthz');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ status: 'unavailable', database: { ok: false } });
    } finally {
      await instance.close();
    }
  });

  // The in-process store of the embedded default cannot go away on its own.
  (backend === 'mysql' ? it : it.skip)('When Redis stops answering, then /healthz is 503 and names the cache', async () => {
    const instance = await startInstance(handle, { startJobs: false });
    try {
      await instance.deps.store.close();
      const down = await request(instance.app.callback()).get('/healthz');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ status: 'unavailable', database: { ok: true }, cache: { ok: false, kind: 'redis' } });
    } finally {
      await instance.close();
    }
  });

  it('When /metrics is asked with a token configured, then only the bearer token opens it', async () => {
    const instance = await startInstance(handle, { env: { METRICS_TOKEN: 'metrics-token-0123456789' }, startJobs: false });
    try {
      expect((await request(instance.app.callback()).get('/metrics')).status).toBe(404);
      const ok = await request(instance.app.callback()).get('/metrics').set('Authorization', 'Bearer metrics-token-0123456789');
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('http_request_duration_seconds');
    } finally {
      await instance.close();
    }
  });

  it('When a token is configured, then /healthz tells the public only ok / unavailable, and the token holder each dependency, its latency and error', async () => {
    const token = 'metrics-token-0123456789';
    const instance = await startInstance(handle, { env: { METRICS_TOKEN: token }, startJobs: false });
    try {
      const app = instance.app.callback();
      const publicOk = await request(app).get('/healthz');
      expect(publicOk.status).toBe(200);
      expect(publicOk.body).toEqual({ status: 'ok' });
      // A wrong token, one of another length, or a token sent some other way is the public.
      for (const auth of ['Bearer metrics-token-0123456788', 'Bearer x', `Basic ${token}`, token, 'Bearer ']) {
        expect((await request(app).get('/healthz').set('Authorization', auth)).body).toEqual({ status: 'ok' });
      }
      const operator = await request(app).get('/healthz').set('Authorization', `Bearer ${token}`);
      expect(operator.body).toMatchObject({ status: 'ok', database: { ok: true }, cache: { ok: true } });
      expect(typeof operator.body.database.ms).toBe('number');
      await instance.deps.db.destroy();
      const publicDown = await request(app).get('/healthz');
      expect(publicDown.status).toBe(503);
      expect(publicDown.body).toEqual({ status: 'unavailable' });
      const operatorDown = await request(app).get('/healthz').set('Authorization', `Bearer ${token}`);
      expect(operatorDown.status).toBe(503);
      expect(operatorDown.body).toMatchObject({ status: 'unavailable', database: { ok: false, error: expect.any(String) } });
    } finally {
      await instance.close();
    }
  });

  it('When a page does not exist, then an HTML client gets the Chinese error page and an API client JSON, never a stack', async () => {
    const instance = await startInstance(handle, { startJobs: false });
    try {
      const html = await request(instance.app.callback()).get('/no-such-page').set('Accept', 'text/html');
      expect(html.status).toBe(404);
      expect(html.text).toContain('页面不存在');
      const json = await request(instance.app.callback()).get('/api/no-such').set('Accept', 'application/json');
      expect(json.body).toMatchObject({ error: { code: 'NOT_FOUND', message: '页面不存在' } });
      expect(json.text).not.toMatch(/at \w+ \(/);
    } finally {
      await instance.close();
    }
  });
});
