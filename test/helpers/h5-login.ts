import request from 'supertest';
import type Koa from 'koa';
import { type SandboxWechatServer } from './harness';

export type Agent = ReturnType<typeof request.agent>;

/**
 * A phone in WeChat: an agent with its own cookie jar and IP (X-Forwarded-For; the app must run with
 * TRUST_PROXY=true), logged in through OAuth the way WeChat does it — the test plays WeChat's part, issuing a
 * code in the sandbox WeChat for `openid` and calling our callback with it.
 */
export async function loginAs(app: Koa, sandbox: SandboxWechatServer, openid: string, ip = '10.0.0.1'): Promise<Agent> {
  const agent = request.agent(app.callback());
  agent.set('X-Forwarded-For', ip);
  const start = await agent.get('/h5/');
  if (start.status !== 302) throw new Error(`expected a redirect to OAuth, got ${start.status}`);
  const authorize = new URL(start.headers.location);
  const redirect = new URL(authorize.searchParams.get('redirect_uri')!);
  const code = sandbox.state.issueOAuthCode(openid, {});
  const back = await agent.get(`${redirect.pathname}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(authorize.searchParams.get('state')!)}`);
  if (back.status !== 302) throw new Error(`OAuth callback failed: ${back.status}`);
  return agent;
}

/** The CSRF token a page's form carries. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in the page');
  return m[1];
}
