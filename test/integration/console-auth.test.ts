import request from 'supertest';
import type Koa from 'koa';
import { anonymousAgent, consoleAppFor, createOperator, freshTotp, loginAgent } from '../helpers/console';
import { useTestApp } from '../helpers/use-test-app';

/** The operator console's front door: login with password + TOTP, what a stranger gets, and where it is not. */
const t = useTestApp();
let consoleApp: Koa;

beforeAll(() => {
  consoleApp = consoleAppFor(t.instance.deps);
});

describe('console login', () => {
  it('When an operator gives the right password and TOTP code, then the session opens and the nav shows their sections', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['admin'] });
    const agent = await loginAgent(consoleApp, t.instance.deps, op);
    const home = await agent.get('/');
    expect(home.status).toBe(200);
    expect(home.text).toContain(op.username);
    expect(home.text).toContain('href="/operators"');
    expect(String(home.headers['set-cookie'] ?? '')).not.toContain('cam.sid');
  });

  it('When the password is wrong, then the login is refused with 401 and no session is opened', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['finance'] });
    const agent = await anonymousAgent(consoleApp);
    const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: op.username, password: 'wrong password here', code: await freshTotp(t.instance.deps, op) });
    expect(res.status).toBe(401);
    expect(res.text).toContain('用户名、密码或动态验证码不正确');
    expect((await agent.get('/')).status).toBe(302);
  });

  it('When a logged-out request arrives, then a GET is sent to /login and a POST gets 401 with nothing else', async () => {
    const page = await request(consoleApp.callback()).get('/approvals');
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe('/login?next=%2Fapprovals');
    const post = await request(consoleApp.callback()).post('/approvals/1/approve').set('Accept', 'application/json').set('x-csrf-token', 'x');
    expect(post.status).toBe(401);
    expect(JSON.stringify(post.body)).not.toContain('approve');
  });

  it('When the public app is asked for console pages, then it has none of them', async () => {
    for (const path of ['/login', '/approvals', '/operators', '/step-up']) {
      const res = await request(t.instance.app.callback()).get(path);
      expect(res.status).toBe(404);
    }
  });
});

describe('console login guards', () => {
  it('When a POST carries no CSRF token or a wrong one, then it is refused with 403 and nothing changes', async () => {
    const deps = t.instance.deps;
    const admin = await loginAgent(consoleApp, deps, await createOperator(deps, { roles: ['admin'] }));
    const target = await createOperator(deps, { roles: ['support'] });
    const none = await admin.post(`/operators/${target.id}/roles`).type('form').send({ role_admin: 'on', reason: 'x' });
    expect(none.status).toBe(403);
    const wrong = await admin.post(`/operators/${target.id}/roles`).type('form').send({ _csrf: 'A'.repeat(admin.csrf.length), role_admin: 'on', reason: 'x' });
    expect(wrong.status).toBe(403);
    const header = await admin.post(`/operators/${target.id}/roles`).set('x-csrf-token', 'nope').type('form').send({ role_admin: 'on', reason: 'x' });
    expect(header.status).toBe(403);
    const anonymous = await anonymousAgent(consoleApp);
    const login = await anonymous.post('/login').type('form').send({ username: target.username, password: target.password, code: await freshTotp(deps, target) });
    expect(login.status).toBe(403);
    expect((await admin.get('/approvals')).text).not.toContain(target.username);
  });

  it('When a TOTP code that already logged in is used again, then the second login is refused', async () => {
    const deps = t.instance.deps;
    const op = await createOperator(deps, { roles: ['support'] });
    const code = await freshTotp(deps, op);
    const first = await anonymousAgent(consoleApp);
    expect((await first.post('/login').type('form').send({ _csrf: first.csrf, username: op.username, password: op.password, code })).status).toBe(302);
    const second = await anonymousAgent(consoleApp);
    const again = await second.post('/login').type('form').send({ _csrf: second.csrf, username: op.username, password: op.password, code });
    expect(again.status).toBe(401);
    expect((await second.get('/')).status).toBe(302);
  });

  it('When two logins race with the same fresh code, then exactly one gets in', async () => {
    const deps = t.instance.deps;
    const op = await createOperator(deps, { roles: ['support'] });
    const code = await freshTotp(deps, op);
    const agents = await Promise.all([anonymousAgent(consoleApp), anonymousAgent(consoleApp), anonymousAgent(consoleApp)]);
    const results = await Promise.all(agents.map((a) => a.post('/login').type('form').send({ _csrf: a.csrf, username: op.username, password: op.password, code })));
    expect(results.map((r) => r.status).sort()).toEqual([302, 401, 401]);
  });

  it('When a username has 5 wrong attempts, then even the right password and code are refused with the minutes left', async () => {
    const deps = t.instance.deps;
    const op = await createOperator(deps, { roles: ['finance'] });
    const agent = await anonymousAgent(consoleApp);
    for (let i = 0; i < 5; i++) {
      const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: op.username, password: `wrong-${i}-password`, code: '000000' });
      expect(res.status).toBe(401);
    }
    const locked = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: op.username, password: op.password, code: await freshTotp(deps, op) });
    expect(locked.status).toBe(429);
    expect(locked.text).toMatch(/请 1[45] 分钟后再试/);
    // Another operator from the same address is not locked (the per-address limit is higher).
    const other = await createOperator(deps, { roles: ['finance'] });
    await loginAgent(consoleApp, deps, other);
  });

  it('When one address (behind the trusted proxy) fails 20 times across usernames, then it is locked out while other addresses still log in', async () => {
    const deps = t.instance.deps;
    const proxied = consoleAppFor(deps, { trustedProxy: '127.0.0.1' });
    const op = await createOperator(deps, { roles: ['finance'] });
    const attacker = await anonymousAgent(proxied);
    attacker.set('X-Forwarded-For', '198.51.100.7');
    for (let i = 0; i < 20; i++) {
      const res = await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: `nobody${i}`, password: 'guess-guess-guess', code: '123456' });
      expect(res.status).toBe(401);
    }
    const refused = await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: op.username, password: op.password, code: await freshTotp(deps, op) });
    expect(refused.status).toBe(429);
    const colleague = await anonymousAgent(proxied);
    colleague.set('X-Forwarded-For', '198.51.100.8');
    const ok = await colleague.post('/login').type('form').send({ _csrf: colleague.csrf, username: op.username, password: op.password, code: await freshTotp(deps, op) });
    expect(ok.status).toBe(302);
  }, 90_000);

  it('When a login succeeds, then the session id changes (the anonymous cookie does not carry over)', async () => {
    const deps = t.instance.deps;
    const op = await createOperator(deps, { roles: ['support'] });
    const agent = await anonymousAgent(consoleApp);
    const before = (await agent.get('/login')).headers['set-cookie'];
    const login = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: op.username, password: op.password, code: await freshTotp(deps, op) });
    const cookieValue = (h: unknown) => /cam\.admin=([^;]+)/.exec(String(h ?? ''))?.[1];
    const after = cookieValue(login.headers['set-cookie']);
    expect(after).toBeTruthy();
    expect(after).not.toBe(cookieValue(before));
    // The old anonymous session's CSRF token is gone with it.
    const stale = await agent.post('/logout').type('form').send({ _csrf: agent.csrf });
    expect(stale.status).toBe(403);
  });
});
