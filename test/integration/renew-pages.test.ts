import { inTransaction } from '../../src/lib/db/transaction';
import { type Certificate, CertificateEntity } from '../../src/modules/certificates/entities';
import { HandlerRepository } from '../../src/modules/handlers/repository';
import { OrderEntity } from '../../src/modules/orders/entities';
import { backend, TestClock } from '../helpers/harness';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/** 续期缴费 pages through WeChat OAuth: options, order creation, the order and transfer pages, cancel, history. */
const DAY = 86_400_000;
const clock = new TestClock();
let seq = 0;

const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true' }, clock, startJobs: false });

/** A real CA-issued certificate of one organisation, bound to `openid`, expiring in `days` (30: inside the renewal window). */
function bound(openid: string, opts: { days?: number; organization?: string } = {}): Promise<Certificate> {
  const now = clock.nowMs();
  return boundCertificate(t.instance.deps, openid, {
    organization: opts.organization ?? `梅州续期页面单位${++seq}`, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + (opts.days ?? 30) * DAY), at: new Date(now),
  });
}

/** The handler passed the liveness check before (its own flow is tested in liveness.test.ts). */
async function verified(openid: string): Promise<void> {
  const at = new Date(clock.nowMs());
  await inTransaction(t.instance.deps.db, (em) => new HandlerRepository().upsertVerified(em, {
    openid, nameSealed: 'sealed', nameMasked: '张*', idNumberSealed: 'sealed', idNumberIndex: `idx-${openid}`.slice(0, 64), idNumberMasked: '4414**********0011',
    method: 'liveness', attemptId: 1, verifiedAt: at, purgeAfter: new Date(at.getTime() + 5 * 365 * DAY), sandbox: false,
  }, at));
}

let ipSeq = 0;
const login = (openid: string) => loginAs(t.instance.app, t.sandbox, openid, `10.5.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);
async function phone(openid: string): Promise<Agent> {
  await verified(openid);
  return login(openid);
}

async function order(agent: Agent, items: Array<[number, number]>) {
  const page = await agent.get('/h5/renew');
  const form: Record<string, string> = { _csrf: csrfOf(page.text) };
  for (const [id, years] of items) Object.assign(form, { [`c_${id}`]: '1', [`y_${id}`]: String(years) });
  return agent.post('/h5/renew').type('form').send(form);
}

const orderNoOf = (location: string) => /\/h5\/orders\/([A-Z0-9]+)\?created=1$/.exec(location)?.[1];
const errorOf = (html: string) => /data-error>([^<]+)</.exec(html)?.[1];
const codeOf = (html: string) => /data-code="(\d+)"/.exec(html)?.[1];

describe(`续期缴费 pages (${backend})`, () => {
  it('When a handler opens 续期缴费, then each bound certificate shows its organisation, type and 200.00 元/年, and one past its window says to contact the CA', async () => {
    const cert = await bound('oRenewOptions');
    const late = await bound('oRenewOptions');
    // Long past its renewal window (the sandbox CA cannot issue that far back, nor would presentation accept it).
    await t.instance.deps.db.getRepository(CertificateEntity).update({ id: late.id }, { notAfter: new Date(clock.nowMs() - 400 * DAY) });
    const agent = await phone('oRenewOptions');
    const res = await agent.get(`/h5/renew?cert=${cert.id}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(cert.organization!);
    expect(res.text).toContain('机构证书');
    expect(res.text).toMatch(/<strong>200\.00<\/strong> 元\/年/);
    expect(res.text).toMatch(new RegExp(`name="c_${cert.id}" value="1"[^>]*checked`));
    expect(res.text).toContain(late.organization!);
    expect(res.text).not.toContain(`name="c_${late.id}"`);
    expect(res.text).toContain('已超过续期期限，请联系 CA 重新办理');
  });

  it('When two certificates are ordered for 2 years each, then the order page shows 800.00 with both lines, 待支付 and both ways to pay', async () => {
    const a = await bound('oRenewTwo');
    const b = await bound('oRenewTwo');
    const agent = await phone('oRenewTwo');
    const res = await order(agent, [[a.id, 2], [b.id, 2]]);
    expect(res.status).toBe(302);
    const orderNo = orderNoOf(res.headers.location)!;
    expect(orderNo).toBeDefined();
    const page = await agent.get(`/h5/orders/${orderNo}?created=1`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('¥800.00');
    expect(page.text).toContain('200.00 元/年 × 2 年');
    expect(page.text).toContain(a.organization!);
    expect(page.text).toContain(b.organization!);
    expect(page.text).toContain('待支付');
    expect(page.text).toMatch(/剩余 (1 小时 59 分钟|2 小时)/);
    expect(page.text).toContain(`action="/h5/orders/${orderNo}/pay/wechat"`);
    expect(page.text).toContain(`action="/h5/orders/${orderNo}/transfer"`);
    const stored = await t.instance.deps.db.getRepository(OrderEntity).findOneByOrFail({ orderNo });
    expect(stored).toMatchObject({ totalFen: 80000, openid: 'oRenewTwo', state: 'PENDING_PAYMENT' });
  });

  it('When a certificate already has an open order, then a second order is refused on the page with a link to the first', async () => {
    const cert = await bound('oRenewTwice');
    const agent = await phone('oRenewTwice');
    const first = orderNoOf((await order(agent, [[cert.id, 1]])).headers.location)!;
    const second = await order(agent, [[cert.id, 3]]);
    expect(second.status).toBe(409);
    expect(errorOf(second.text)).toContain('该证书已有待支付的订单');
    expect(second.text).toContain(`href="/h5/orders/${first}" style="color:#fff;text-decoration:underline" data-open-order`);
    // The options page says the same before anyone submits.
    expect((await agent.get('/h5/renew')).text).toContain(`<a class="weui-link" href="/h5/orders/${first}" data-open-order>查看订单</a>`);
  });

  it('When a certificate not bound to the handler is posted, then the order is refused on the page and nothing is created', async () => {
    const theirs = await bound('oRenewOwner');
    await bound('oRenewStranger');
    const agent = await phone('oRenewStranger');
    const res = await order(agent, [[theirs.id, 1]]);
    expect(res.status).toBe(403);
    expect(errorOf(res.text)).toContain('该证书未绑定到您的微信');
    expect(await t.instance.deps.db.getRepository(OrderEntity).countBy({ openid: 'oRenewStranger' })).toBe(0);
  });

  it('When a handler who has not passed the liveness check opens 续期缴费, then they are sent to it and a forged order post is refused', async () => {
    const cert = await bound('oRenewUnverified');
    const agent = await login('oRenewUnverified');
    const res = await agent.get(`/h5/renew?cert=${cert.id}`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/h5/handler?next=${encodeURIComponent(`/h5/renew?cert=${cert.id}`)}`);
    const csrf = csrfOf((await agent.get(`/h5/certs/${cert.id}?confirm=unbind`)).text);
    const post = await agent.post('/h5/renew').type('form').send({ _csrf: csrf, [`c_${cert.id}`]: '1', [`y_${cert.id}`]: '1' });
    expect(post.status).toBe(403);
    expect(await t.instance.deps.db.getRepository(OrderEntity).countBy({ openid: 'oRenewUnverified' })).toBe(0);
  });

  it('When nothing is ticked or the CSRF token is missing, then no order is made', async () => {
    const cert = await bound('oRenewEmpty');
    const agent = await phone('oRenewEmpty');
    const page = await agent.get('/h5/renew');
    const empty = await agent.post('/h5/renew').type('form').send({ _csrf: csrfOf(page.text) });
    expect(empty.status).toBe(400);
    expect(errorOf(empty.text)).toBe('请选择要续期的证书');
    const forged = await agent.post('/h5/renew').type('form').send({ [`c_${cert.id}`]: '1', [`y_${cert.id}`]: '1' });
    expect(forged.status).toBe(403);
    expect(await t.instance.deps.db.getRepository(OrderEntity).countBy({ openid: 'oRenewEmpty' })).toBe(0);
  });

  it('When the transfer page is opened, then it shows the payee, the exact amount and a 6-digit code that stays the same on reload', async () => {
    const cert = await bound('oRenewTransfer');
    const agent = await phone('oRenewTransfer');
    const orderNo = orderNoOf((await order(agent, [[cert.id, 1]])).headers.location)!;
    const chose = await agent.post(`/h5/orders/${orderNo}/transfer`).type('form').send({ _csrf: csrfOf((await agent.get(`/h5/orders/${orderNo}`)).text) });
    expect(chose.status).toBe(302);
    expect(chose.headers.location).toBe(`/h5/orders/${orderNo}/transfer`);
    const page = await agent.get(chose.headers.location);
    expect(page.status).toBe(200);
    const code = codeOf(page.text);
    expect(code).toMatch(/^\d{6}$/);
    expect(page.text).toContain('广东数安时代科技股份有限公司');
    expect(page.text).toContain('中国建设银行广州天河支行');
    expect(page.text).toContain('¥200.00');
    expect(page.text).toContain('只能备注 6 位数字');
    expect(page.text).toContain('不支持财政账户');
    expect(page.text).toContain(cert.organization!);
    expect(codeOf((await agent.get(`/h5/orders/${orderNo}/transfer`)).text)).toBe(code);
    expect((await agent.get(`/h5/orders/${orderNo}`)).text).toContain('对公汇款');
  });

  it('When the transfer address is merely opened (a link, a prefetch, a forged page) or posted without the CSRF token, then the order does not change', async () => {
    const cert = await bound('oRenewTransferGet');
    const agent = await phone('oRenewTransferGet');
    const orderNo = orderNoOf((await order(agent, [[cert.id, 1]])).headers.location)!;
    const before = await t.instance.deps.db.getRepository(OrderEntity).findOneByOrFail({ orderNo });
    const opened = await agent.get(`/h5/orders/${orderNo}/transfer`);
    expect(opened.status).toBe(302);
    expect(opened.headers.location).toBe(`/h5/orders/${orderNo}`);
    expect((await agent.post(`/h5/orders/${orderNo}/transfer`).type('form').send({})).status).toBe(403);
    expect(await t.instance.deps.db.getRepository(OrderEntity).findOneByOrFail({ orderNo })).toMatchObject({ paymentMethod: null, expiresAt: before.expiresAt });
  });

  it('When another handler opens the order, transfer, cancel or pay address, then each is a 404', async () => {
    const cert = await bound('oRenewVictim');
    const owner = await phone('oRenewVictim');
    const orderNo = orderNoOf((await order(owner, [[cert.id, 1]])).headers.location)!;
    await bound('oRenewProber');
    const other = await phone('oRenewProber');
    expect((await other.get(`/h5/orders/${orderNo}`)).status).toBe(404);
    expect((await other.get(`/h5/orders/${orderNo}/transfer`)).status).toBe(404);
    const csrf = csrfOf((await other.get('/h5/renew')).text);
    expect((await other.post(`/h5/orders/${orderNo}/cancel`).type('form').send({ _csrf: csrf })).status).toBe(404);
    expect((await other.get('/h5/orders/not-an-order!')).status).toBe(404);
    expect(await t.instance.deps.db.getRepository(OrderEntity).findOneByOrFail({ orderNo })).toMatchObject({ state: 'PENDING_PAYMENT', paymentMethod: null });
  });

  it('When the handler cancels an unpaid order, then it shows 已关闭 without payment choices and the certificate can be ordered again', async () => {
    const cert = await bound('oRenewCancel');
    const agent = await phone('oRenewCancel');
    const orderNo = orderNoOf((await order(agent, [[cert.id, 1]])).headers.location)!;
    const page = await agent.get(`/h5/orders/${orderNo}`);
    const res = await agent.post(`/h5/orders/${orderNo}/cancel`).type('form').send({ _csrf: csrfOf(page.text) });
    expect(res.status).toBe(302);
    const after = await agent.get(res.headers.location);
    expect(after.text).toContain('订单已取消');
    expect(after.text).toContain('已关闭');
    expect(after.text).not.toContain('data-pay="wechat"');
    expect((await agent.get(`/h5/orders/${orderNo}/transfer`)).status).toBe(302);
    expect((await order(agent, [[cert.id, 1]])).status).toBe(302);
  });

  it('When the handler opens 我的订单, then their orders are listed newest first with state and amount, and nobody else\'s', async () => {
    const a = await bound('oRenewHistory');
    const b = await bound('oRenewHistory');
    const agent = await phone('oRenewHistory');
    const first = orderNoOf((await order(agent, [[a.id, 1]])).headers.location)!;
    clock.advance(60_000);
    const second = orderNoOf((await order(agent, [[b.id, 3]])).headers.location)!;
    const list = await agent.get('/h5/orders');
    expect(list.status).toBe(200);
    expect(list.text.indexOf(second)).toBeGreaterThan(-1);
    expect(list.text.indexOf(second)).toBeLessThan(list.text.indexOf(first));
    expect(list.text).toContain('¥600.00');
    expect(list.text).toContain('¥200.00');
    expect(list.text).toContain('待支付');
    const stranger = await phone('oRenewNoHistory');
    const theirs = await stranger.get('/h5/orders');
    expect(theirs.text).toContain('暂无订单');
    expect(theirs.text).not.toContain(first);
  });
});
