import type Koa from 'koa';
import { OperatorService } from '../../src/modules/console/operators';
import { RenewalAuditEntity } from '../../src/modules/renewals/entities';
import { consoleAppFor, createOperator, loginAgent } from '../helpers/console';
import { useTestApp } from '../helpers/use-test-app';

/** The 管理员 pages: operators (created without roles, roles through four-eyes, secrets shown once) and the audit chain. */
const t = useTestApp();
let app: Koa;

beforeAll(() => {
  app = consoleAppFor(t.instance.deps);
});

describe('operators page', () => {
  it('When a 管理员 creates an operator with roles, then it starts without roles, the roles wait for approval, and the TOTP QR is shown once', async () => {
    const deps = t.instance.deps;
    const admin = await loginAgent(app, deps, await createOperator(deps, { roles: ['admin'] }));
    const res = await admin.post('/operators').type('form').send({ _csrf: admin.csrf, username: 'new.clerk', displayName: '新客服', role_support: 'on', reason: '入职' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).toContain('data:image/png;base64,');
    expect(res.text).toContain('只显示这一次');
    const created = await new OperatorService(deps).byUsername('new.clerk');
    expect(created!.roles).toBe('');
    const proposal = /\/approvals\/(\d+)/.exec(res.text)![1];
    expect((await admin.get(`/approvals/${proposal}`)).text).toContain('将 new.clerk 的角色设为：客服');
  });

  it('When a 管理员 tries to disable themselves, then it is refused', async () => {
    const deps = t.instance.deps;
    const me = await createOperator(deps, { roles: ['admin'] });
    const admin = await loginAgent(app, deps, me);
    expect((await admin.post(`/operators/${me.id}/disable`).type('form').send({ _csrf: admin.csrf })).status).toBe(409);
  });
});

describe('audit page', () => {
  it('When the chain is intact, then 校验 says so; when a row is altered, then 校验 names the first bad entry', async () => {
    const deps = t.instance.deps;
    const op = await createOperator(deps, { roles: ['admin'] });
    const admin = await loginAgent(app, deps, op);
    const list = await admin.get(`/audit?operator=${op.username}&step=console.login`);
    expect(list.status).toBe(200);
    expect(list.text).toContain('console.login');
    const intact = await admin.post('/audit/verify').type('form').send({ _csrf: admin.csrf });
    expect(intact.text).toContain('哈希链完整');

    const repo = deps.db.getRepository(RenewalAuditEntity);
    const victim = (await repo.find({ where: { step: 'console.login' }, order: { seq: 'ASC' }, take: 1 }))[0]!;
    // Someone with database access rewrites who logged in.
    await repo.update({ id: victim.id }, { detail: victim.detail.replace(/"username":"[^"]+"/, '"username":"someone-else"') });
    const broken = await admin.post('/audit/verify').type('form').send({ _csrf: admin.csrf });
    expect(broken.text).toContain(`第 ${victim.seq} 条记录起不一致`);
  });

  it('When a 客服 opens the audit page, then it is refused', async () => {
    const deps = t.instance.deps;
    const clerk = await loginAgent(app, deps, await createOperator(deps, { roles: ['support', 'finance'] }));
    expect((await clerk.get('/audit')).status).toBe(403);
    expect((await clerk.post('/audit/verify').type('form').send({ _csrf: clerk.csrf })).status).toBe(403);
  });
});
