import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { backend } from '../helpers/harness';
import { type Agent, loginAs } from '../helpers/h5-login';
import { installOnToken, pcPage, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The phone side of a renewal: 待办事项 shows a paid certificate as 已缴费 · 请在电脑上续期 with the renewal address
 * (not 去续期), the list and the detail show the paid entitlement, and after INSTALLED 我的数字证书 shows the new
 * certificate with its validity, the old one as 已更新, and the detail the renewal history.
 * RENEWAL_SCREENSHOTS=1 also renders the pages at 375 px in Chromium (test-results/renewal-phone-*.png).
 */
const BASE = 'http://cam.test';
const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true', PUBLIC_BASE_URL: BASE }, startJobs: false });
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));
let ip = 0;
const phone = (openid: string): Promise<Agent> => loginAs(t.instance.app, t.sandbox, openid, `10.9.0.${++ip}`);
const ADDRESS = `${BASE}/gdca-page/redirect?busyType=8`;

async function shoot(pages: Array<[string, string]>): Promise<void> {
  if (!process.env.RENEWAL_SCREENSHOTS) return;
  const { launchChromium, phoneContext, screenshot, horizontalOverflow } = await import('../helpers/browser');
  const server: Server = createServer(t.instance.app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  try {
    const page = await (await phoneContext(browser)).newPage();
    for (const [name, html] of pages) {
      // Served from the app's own origin (its CSS is same-origin only), the HTML the test already fetched.
      await page.route(`${origin}/__shot/${name}`, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
      await page.goto(`${origin}/__shot/${name}`, { waitUntil: 'load' });
      await screenshot(page, `renewal-phone-${name}`);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    }
  } finally {
    await browser.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe(`phone pages around a PC renewal (${backend})`, () => {
  it('When a certificate is paid for, then home, list and detail say 已缴费 · 请在电脑上续期 with the renewal address; after INSTALLED the new certificate shows with its validity, the old as 已更新, and the history', async () => {
    const f = await renewalFixture(t.instance.deps, { years: 2 });
    const agent = await phone(f.openid);

    const home = await agent.get('/h5/');
    expect(home.status).toBe(200);
    expect(home.text).toMatch(new RegExp(`data-todo="${f.cert.id}" data-todo-paid`));
    expect(home.text).toContain('已缴费 · 请在电脑上续期');
    expect(home.text).toContain(`data-copy="${ADDRESS}"`);
    expect(home.text).not.toMatch(new RegExp(`href="/h5/renew\\?cert=${f.cert.id}"`));
    const list = await agent.get('/h5/certs');
    expect(list.text).toContain(`已缴费（订单 ${f.order!.orderNo}，2 年）`);
    expect(list.text).not.toContain(`/h5/renew?cert=${f.cert.id}`);
    const detail = await agent.get(`/h5/certs/${f.cert.id}`);
    expect(detail.text).toContain('data-paid');
    expect(detail.text).toContain(ADDRESS);
    await shoot([['home-paid', home.text], ['certs-paid', list.text], ['detail-paid', detail.text]]);

    const page = await pcPage(t.instance.app);
    const r = await renewUpToIssued(page, f);
    expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).status).toBe(200);
    const newNotAfter = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(r.issued!.body.notAfter));

    const after = await agent.get('/h5/certs');
    const cards = after.text.split('<li class="cam-cert"').slice(1);
    const oldCard = cards.find((c) => c.includes(`data-cert="${f.cert.id}"`))!;
    const newCard = cards.find((c) => !c.includes(`data-cert="${f.cert.id}"`) && c.includes(f.cert.organization!))!;
    expect(oldCard).toContain('已更新');
    expect(newCard).toContain(`至 ${newNotAfter}`);
    expect(after.text).not.toContain('data-paid');
    const homeAfter = await agent.get('/h5/');
    expect(homeAfter.text).not.toContain('data-todo-paid');
    const oldDetail = await agent.get(`/h5/certs/${f.cert.id}`);
    expect(oldDetail.text).toContain('续期记录');
    expect(oldDetail.text).toContain(r.issued!.body.serialHex.toUpperCase());
    expect(oldDetail.text).toContain('该证书已续期，新证书已生效');
    const newId = /data-cert="(\d+)"/.exec(newCard)![1];
    const newDetail = await agent.get(`/h5/certs/${newId}`);
    expect(newDetail.text).toContain('续期记录');
    expect(newDetail.text).toContain(f.cert.serialHex.toUpperCase());
    await shoot([['certs-after', after.text], ['detail-old-after', oldDetail.text], ['detail-new-after', newDetail.text], ['home-after', homeAfter.text]]);
  });
});
