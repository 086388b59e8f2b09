import type Koa from 'koa';
import { OperatorService } from '../../src/modules/console/operators';
import { parseRoles } from '../../src/modules/console/roles';
import { consoleAppFor, createOperator, loginAgent } from '../helpers/console';
import { useTestApp } from '../helpers/use-test-app';

/** Four-eyes on role grants: one 管理员 proposes, another approves; the proposer never approves; roles are checked. */
const t = useTestApp();
let app: Koa;

beforeAll(() => {
  app = consoleAppFor(t.instance.deps);
});

async function proposeGrant(agent: Awaited<ReturnType<typeof loginAgent>>, targetId: number, roles: string[]): Promise<number> {
  const form: Record<string, string> = { _csrf: agent.csrf, reason: '新同事入职' };
  for (const r of roles) form[`role_${r}`] = 'on';
  const res = await agent.post(`/operators/${targetId}/roles`).type('form').send(form);
  expect(res.status).toBe(302);
  return Number(/\/approvals\/(\d+)/.exec(res.headers.location)![1]);
}

describe('four-eyes', () => {
  it('When the proposer tries to approve their own role grant, then it is refused and the roles stay', async () => {
    const deps = t.instance.deps;
    const alice = await createOperator(deps, { roles: ['admin'] });
    const target = await createOperator(deps, { roles: ['support'] });
    const agent = await loginAgent(app, deps, alice);
    const id = await proposeGrant(agent, target.id, ['support', 'finance']);
    const page = await agent.get(`/approvals/${id}`);
    expect(page.text).toContain('须由另一位管理员批准');
    expect(page.text).not.toContain('批准并执行');
    const res = await agent.post(`/approvals/${id}/approve`).type('form').send({ _csrf: agent.csrf });
    expect(res.status).toBe(403);
    expect(res.text).toContain('不能批准自己提交的申请');
    expect(parseRoles((await new OperatorService(deps).byId(target.id))!.roles)).toEqual(['support']);
  });

  it('When another 管理员 approves, then the grant executes once and a second approval is refused', async () => {
    const deps = t.instance.deps;
    const alice = await createOperator(deps, { roles: ['admin'] });
    const bob = await createOperator(deps, { roles: ['admin'] });
    const target = await createOperator(deps, { roles: ['support'] });
    const id = await proposeGrant(await loginAgent(app, deps, alice), target.id, ['finance']);
    const bobAgent = await loginAgent(app, deps, bob);
    const approved = await bobAgent.post(`/approvals/${id}/approve`).type('form').send({ _csrf: bobAgent.csrf });
    expect(approved.status).toBe(302);
    const page = await bobAgent.get(`/approvals/${id}`);
    expect(page.text).toContain('已执行');
    expect(parseRoles((await new OperatorService(deps).byId(target.id))!.roles)).toEqual(['finance']);
    const again = await bobAgent.post(`/approvals/${id}/approve`).type('form').send({ _csrf: bobAgent.csrf });
    expect(again.status).toBe(409);
  });

  it('When a 财务 or 客服 operator opens the operators page or approves a role grant, then they get 403', async () => {
    const deps = t.instance.deps;
    const alice = await createOperator(deps, { roles: ['admin'] });
    const target = await createOperator(deps, { roles: ['support'] });
    const id = await proposeGrant(await loginAgent(app, deps, alice), target.id, ['admin']);
    const clerk = await loginAgent(app, deps, await createOperator(deps, { roles: ['finance', 'support'] }));
    expect((await clerk.get('/operators')).status).toBe(403);
    expect((await clerk.post(`/approvals/${id}/approve`).type('form').send({ _csrf: clerk.csrf })).status).toBe(403);
    expect((await clerk.get('/approvals')).text).not.toContain(`#${id}<`);
    expect(parseRoles((await new OperatorService(deps).byId(target.id))!.roles)).toEqual(['support']);
  });

  it('When execution fails, then the proposal is FAILED with its error, and an approver can retry it once the cause is gone', async () => {
    const deps = t.instance.deps;
    const operators = new OperatorService(deps);
    const alice = await createOperator(deps, { roles: ['admin'] });
    const bob = await createOperator(deps, { roles: ['admin'] });
    const id = await proposeGrant(await loginAgent(app, deps, alice), bob.id, ['support']);
    const others = (await operators.list()).filter((o) => o.id !== bob.id && !o.disabled && parseRoles(o.roles).includes('admin'));
    for (const o of others) await operators.setDisabled(o.id, true);
    try {
      const bobAgent = await loginAgent(app, deps, bob);
      await bobAgent.post(`/approvals/${id}/approve`).type('form').send({ _csrf: bobAgent.csrf });
      const failed = await bobAgent.get(`/approvals/${id}`);
      expect(failed.text).toContain('执行失败');
      expect(failed.text).toContain('唯一可用的管理员');
      expect(failed.text).toContain('重新执行');
      expect(parseRoles((await operators.byId(bob.id))!.roles)).toEqual(['admin']);

      await operators.setDisabled(alice.id, false);
      await bobAgent.post(`/approvals/${id}/approve`).type('form').send({ _csrf: bobAgent.csrf });
      expect((await bobAgent.get(`/approvals/${id}`)).text).toContain('已执行');
      expect(parseRoles((await operators.byId(bob.id))!.roles)).toEqual(['support']);
    } finally {
      for (const o of others) await operators.setDisabled(o.id, false);
    }
  });
});
