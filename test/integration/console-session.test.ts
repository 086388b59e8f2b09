import { OperatorService } from '../../src/modules/console/operators';
import request from 'supertest';
import { consoleAppFor, createOperator, loginAgent } from '../helpers/console';
import { TestClock } from '../helpers/harness';
import { useTestApp } from '../helpers/use-test-app';

/** Console sessions end after 15 idle minutes and 8 hours after login; the network rules hold against forged headers. */
const clock = new TestClock();
const t = useTestApp({ clock });
const MIN = 60_000;

describe('console session timeouts', () => {
  it('When an operator does nothing for more than 15 minutes, then the next page asks for a login again', async () => {
    const deps = t.instance.deps;
    const app = consoleAppFor(deps);
    const agent = await loginAgent(app, deps, await createOperator(deps, { roles: ['support'] }));
    clock.advance(14 * MIN);
    expect((await agent.get('/approvals')).status).toBe(200);
    clock.advance(16 * MIN);
    const res = await agent.get('/approvals');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?next=%2Fapprovals');
    expect((await agent.get('/login')).text).toContain('长时间未操作');
  });

  it('When an operator stays active past 8 hours, then the session still ends at 8 hours', async () => {
    const deps = t.instance.deps;
    const app = consoleAppFor(deps);
    const agent = await loginAgent(app, deps, await createOperator(deps, { roles: ['support'] }));
    for (let elapsed = 0; elapsed < 8 * 60 - 10; elapsed += 10) {
      clock.advance(10 * MIN);
      expect((await agent.get('/approvals')).status).toBe(200);
    }
    clock.advance(11 * MIN);
    expect((await agent.get('/approvals')).status).toBe(302);
    expect((await agent.get('/login')).text).toContain('最长时限');
  });

  it('When an operator is disabled, then their open session stops at the next request', async () => {
    const deps = t.instance.deps;
    const app = consoleAppFor(deps);
    const op = await createOperator(deps, { roles: ['support'] });
    const agent = await loginAgent(app, deps, op);
    await new OperatorService(deps).setDisabled(op.id, true);
    expect((await agent.get('/approvals')).status).toBe(302);
  });
});

describe('console network rules', () => {
  it('When the allow-list does not hold the address, then every page answers 403, login included', async () => {
    const app = consoleAppFor(t.instance.deps, { ipAllowlist: ['10.20.0.0/16'] });
    expect((await request(app.callback()).get('/login')).status).toBe(403);
  });

  it('When X-Forwarded-For comes from a peer that is not the trusted proxy, then it is ignored (the allow-list cannot be dodged)', async () => {
    const untrusted = consoleAppFor(t.instance.deps, { ipAllowlist: ['10.20.0.0/16'], trustedProxy: '192.0.2.1' });
    expect((await request(untrusted.callback()).get('/login').set('X-Forwarded-For', '10.20.3.4')).status).toBe(403);
    const noProxy = consoleAppFor(t.instance.deps, { ipAllowlist: ['10.20.0.0/16'] });
    expect((await request(noProxy.callback()).get('/login').set('X-Forwarded-For', '10.20.3.4')).status).toBe(403);
  });

  it('When the trusted proxy forwards an allowed address, then the page answers; a spoofed leftmost entry does not count', async () => {
    const app = consoleAppFor(t.instance.deps, { ipAllowlist: ['10.20.0.0/16'], trustedProxy: '127.0.0.1' });
    expect((await request(app.callback()).get('/login').set('X-Forwarded-For', '10.20.3.4')).status).toBe(200);
    // The client wrote "10.20.3.4"; the proxy appended the real address (203.0.113.9): only the proxy's entry counts.
    expect((await request(app.callback()).get('/login').set('X-Forwarded-For', '10.20.3.4, 203.0.113.9')).status).toBe(403);
  });

  it('When the allow-list holds the socket address, then the console answers', async () => {
    const app = consoleAppFor(t.instance.deps, { ipAllowlist: ['127.0.0.0/8', '::1'] });
    expect((await request(app.callback()).get('/login')).status).toBe(200);
  });
});
