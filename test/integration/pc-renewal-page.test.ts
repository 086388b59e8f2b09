import request from 'supertest';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The PC renewal page's own routes (the renewal API is src/modules/renewals', tested in renewal-*.test.ts): the exact
 * address the 续期 reply and the phone pages link, the page's policy and PC session, other businesses, the pay QR.
 */
const BASE = 'http://cam.test';
const t = useTestApp({ env: { PUBLIC_BASE_URL: BASE }, startJobs: false });
const agent = () => request.agent(t.instance.app.callback());

describe('PC renewal page /gdca-page/redirect', () => {
  it('When busyType=8 is opened, then the page comes with a CSRF token in its PC session, reaches only the site and the key agent, and has no inline handlers', async () => {
    const res = await agent().get('/gdca-page/redirect?busyType=8');
    expect(res.status).toBe(200);
    expect(res.text).toContain('数字证书在线续期');
    expect(res.text).toMatch(/<meta name="csrf-token" content="[A-Za-z0-9_-]{20,}">/);
    expect(res.text).toContain('data-min-protocol="2"');
    expect(res.text).not.toMatch(/\son[a-z]+=/i);
    expect(String(res.headers['set-cookie'])).toMatch(/cam\.pc=.*httponly/i);
    expect(res.headers['cache-control']).toBe('no-store');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("connect-src 'self' http://127.0.0.1:17321");
    expect(csp).toContain("script-src-attr 'none'");
    const script = await agent().get(/src="(\/static\/gdca\/renew\.js\?v=[0-9a-f]+)"/.exec(res.text)![1]);
    expect([script.status, script.type]).toEqual([200, 'application/javascript']);
    // The key agent's client shared with /capc/, loaded before the page's own script (both deferred: in order).
    const scripts = [...res.text.matchAll(/<script src="([^"]+)" defer>/g)].map((m) => m[1]!.replace(/\?v=[0-9a-f]{10}$/, ''));
    expect(scripts).toEqual(['/static/shared/key-agent-client.js', '/static/gdca/renew.js']);
  });

  it('When the PC session exists, then a reload keeps it (same CSRF token): a renewal in progress stays this page\'s', async () => {
    const browser = agent();
    const token = (r: request.Response) => /name="csrf-token" content="([^"]+)"/.exec(r.text)![1];
    const first = await browser.get('/gdca-page/redirect?busyType=8');
    const again = await browser.get('/gdca-page/redirect?busyType=8');
    expect(token(again)).toBe(token(first));
    expect(token(await agent().get('/gdca-page/redirect?busyType=8'))).not.toBe(token(first));
  });

  it.each(['3', '', 'abc'])('When busyType is "%s", then 暂不支持该业务 with the hotline and the renewal address', async (busyType) => {
    const res = await agent().get(`/gdca-page/redirect?busyType=${busyType}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('暂不支持该业务');
    expect(res.text).toContain('95105813');
    expect(res.text).toContain(`${BASE}/gdca-page/redirect?busyType=8`);
    expect(String(res.headers['set-cookie'] ?? '')).not.toContain('cam.pc');
  });

  it('When the page asks for the QR of its 续期缴费 address, then a PNG; another site\'s address is refused', async () => {
    const ok = await agent().get(`/gdca-page/pay-qr.png?u=${encodeURIComponent(`${BASE}/h5/renew?cert=12`)}`).buffer(true);
    expect([ok.status, ok.type]).toEqual([200, 'image/png']);
    expect((ok.body as Buffer).subarray(1, 4).toString()).toBe('PNG');
    for (const u of ['https://evil.example/h5/renew', `${BASE}.evil.example/x`, '', `${BASE}/${'x'.repeat(600)}`]) {
      expect((await agent().get(`/gdca-page/pay-qr.png?u=${encodeURIComponent(u)}`)).status).toBe(400);
    }
  });
});
