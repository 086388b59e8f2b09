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
