import { inTransaction } from '../../src/lib/db/transaction';
import { type BindingSource } from '../../src/modules/binding/entities';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate } from '../../src/modules/certificates/entities';
import { CertificateRepository } from '../../src/modules/certificates/repository';
import { TestClock, backend } from '../helpers/harness';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { knownCertificate as known } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/** 我的数字证书, its detail page and the H5 home's 待办事项, with a clock the test moves. */
const DAY = 86_400_000;
const clock = new TestClock();
let seq = 0;

const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true' }, clock, startJobs: false });
beforeEach(() => clock.set(Date.now()));

/** A CA-issued certificate, presented once at /capc/ (so known to the system), valid for `days` from now. */
function knownCertificate(opts: { days?: number; organization?: string } = {}): Promise<Certificate> {
  const now = Date.now();
  return known(t.instance.deps, { organization: opts.organization ?? `梅州证书列表单位${++seq}`, notBefore: new Date(now - DAY), notAfter: new Date(now + (opts.days ?? 200) * DAY) });
}

async function bind(cert: Certificate, openid: string, opts: { sandbox?: boolean; source?: BindingSource } = {}): Promise<void> {
  await inTransaction(t.instance.deps.db, (em) => new BindingRepository().bind(em, {
    certificateId: cert.id, openid, source: opts.source ?? 'capc', sandbox: opts.sandbox ?? false,
  }, new Date(clock.nowMs())));
}

const phone = (openid: string): Promise<Agent> => loginAs(t.instance.app, t.sandbox, openid, `10.2.0.${(seq % 200) + 1}`);
const cardOf = (html: string, id: number) => new RegExp(`<li class="cam-cert" data-cert="${id}">([\\s\\S]*?)</li>`).exec(html)?.[1];
const badgeIn = (html: string) => /cam-badge_\w+">([^<]+)</.exec(html)?.[1];
const todosOf = (html: string) => /<div class="weui-cells" data-todos>([\s\S]*?)<\/div>\s*\n\s*<div class="weui-cells__title">/.exec(html)?.[1] ?? '';
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
const shanghai = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(d);

describe(`我的数字证书 (${backend})`, () => {
  it('When two handlers have certificates of their own, then each list shows only theirs, with masked serial and Shanghai dates', async () => {
    const mine = await knownCertificate({ organization: '梅州甲单位' });
    const theirs = await knownCertificate({ organization: '梅州乙单位' });
    await bind(mine, 'oListMine');
    await bind(theirs, 'oListTheirs');

    const page = await (await phone('oListMine')).get('/h5/certs');
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    const card = text(cardOf(page.text, mine.id) ?? '');
    expect(card).toContain('梅州甲单位');
    expect(card).toContain('梅州市住房公积金 · 机构证书');
    expect(card).toContain(`介质编号 ****${mine.mediaSerial!.slice(-4)}`);
    expect(card).toContain(`有效期 ${shanghai(mine.notBefore)} 至 ${shanghai(mine.notAfter)}`);
    expect(card).toMatch(/剩余 (199|200) 天/);
    expect(badgeIn(cardOf(page.text, mine.id)!)).toBe('有效');
    expect(page.text).not.toContain(mine.mediaSerial!);
    expect(page.text).not.toContain('梅州乙单位');
    expect(cardOf(page.text, theirs.id)).toBeUndefined();

    expect((await (await phone('oListNobody')).get('/h5/certs')).text).toContain('暂无绑定的证书');
  });

  it.each([
    // [days relative to notAfter, badge, 续期 entry and 待办事项 shown]
    [-91, '有效', false],
    [-90, '有效', true],
    [-31, '有效', true],
    [-30, '即将到期', true],
    [0.001, '已过期', true],
    [365, '已过期', true],
    [366, '已过期', false],
  ])('When the clock is %s days from expiry, then the badge is %s and renewal is offered: %s', async (offset, badge, renewable) => {
    const cert = await knownCertificate({ days: 120 });
    const openid = `oThreshold${String(offset).replace(/\W/g, '_')}`;
    await bind(cert, openid);
    clock.set(cert.notAfter.getTime() + offset * DAY);
    const agent = await phone(openid);

    const list = await agent.get('/h5/certs');
    const card = cardOf(list.text, cert.id)!;
    expect(badgeIn(card)).toBe(badge);
    const closesAt = shanghai(new Date(cert.notAfter.getTime() + 365 * DAY));
    expect(list.text.includes(`href="/h5/renew?cert=${cert.id}"`)).toBe(renewable);
    // The deadline (expiry + 365 days) is only shown once expired: before, it would read like a validity date.
    if (renewable) expect(card).toContain(offset < 0 ? '续期缴费</a>' : `续期缴费 · 截止 ${closesAt}`);

    const home = await agent.get('/h5/');
    const todos = text(todosOf(home.text));
    if (!renewable) {
      expect(home.text).not.toContain('待办事项');
      return;
    }
    expect(todos).toContain(`${cert.organization} · 证书待续期`);
    expect(todos).toContain(badge);
    if (offset < 0) {
      expect(todos).toContain(`剩余 ${-offset} 天`);
      expect(todos).not.toContain('续期截止');
    }
    else expect(todos).toContain(`已于 ${shanghai(cert.notAfter)} 过期 续期截止 ${closesAt} ， ${offset === 365 ? '今天截止' : '还剩 365 天'}`);
  });

  it('When a certificate is revoked, then it says 已吊销 and no renewal is offered', async () => {
    const cert = await knownCertificate({ days: 20 });
    await bind(cert, 'oRevoked');
    await new CertificateRepository().markRevoked(t.instance.deps.db.manager, cert.id, new Date(clock.nowMs()));
    const agent = await phone('oRevoked');
    const list = await agent.get('/h5/certs');
    expect(badgeIn(cardOf(list.text, cert.id)!)).toBe('已吊销');
    expect(list.text).not.toContain('/h5/renew?cert=');
    expect((await agent.get('/h5/')).text).not.toContain('待办事项');
  });

  it('When several certificates are in their window, then 待办事项 lists the nearest deadline first', async () => {
    const later = await knownCertificate({ days: 80, organization: '梅州较晚单位' });
    const sooner = await knownCertificate({ days: 10, organization: '梅州较早单位' });
    await bind(later, 'oTwoTodos');
    await bind(sooner, 'oTwoTodos');
    const todos = text(todosOf((await (await phone('oTwoTodos')).get('/h5/')).text));
    expect(todos.indexOf('梅州较早单位')).toBeGreaterThanOrEqual(0);
    expect(todos.indexOf('梅州较早单位')).toBeLessThan(todos.indexOf('梅州较晚单位'));
  });

  it('When a binding is a sandbox record and the app runs for real, then it is not listed', async () => {
    const cert = await knownCertificate({ days: 20, organization: '梅州沙箱单位' });
    await bind(cert, 'oSandboxRow', { sandbox: true });
    const agent = await phone('oSandboxRow');
    expect((await agent.get('/h5/certs')).text).not.toContain('梅州沙箱单位');
    expect((await agent.get(`/h5/certs/${cert.id}`).set('Accept', 'text/html')).status).toBe(404);
    expect((await agent.get('/h5/')).text).not.toContain('待办事项');
  });

  it('When a legacy binding was restored lately, then the home says how many certificates came back', async () => {
    const cert = await knownCertificate({ organization: '梅州老用户单位' });
    await bind(cert, 'oLegacyBack', { source: 'legacy' });
    const home = await (await phone('oLegacyBack')).get('/h5/');
    expect(text(home.text)).toContain('已为您恢复 1 张证书的绑定');
    expect(home.text).toContain('data-restored');
  });
});

describe(`证书详情 (${backend})`, () => {
  it('When the holder opens a certificate, then serial, issuer, algorithm, SHA-256 fingerprint, validity, project and bound time are shown', async () => {
    const cert = await knownCertificate({ organization: '梅州详情单位' });
    await bind(cert, 'oDetail');
    const page = await (await phone('oDetail')).get(`/h5/certs/${cert.id}`);
    expect(page.status).toBe(200);
    const body = text(page.text);
    expect(body).toContain(cert.serialHex.toUpperCase());
    expect(body).toContain(cert.issuerDn.split(',')[0]);
    expect(body).toContain(cert.algorithm === 'ECDSA-P256' ? 'ECDSA P-256' : cert.algorithm);
    const pairs = cert.fingerprintSha256.toUpperCase().match(/.{2}/g)!;
    for (let i = 0; i < 32; i += 8) expect(body).toContain(pairs.slice(i, i + 8).join(':'));
    expect(body).toContain(`有效期至 ${shanghai(cert.notAfter)}`);
    expect(body).toContain(`生效日期 ${shanghai(cert.notBefore)}`);
    expect(body).toContain('梅州市住房公积金 · 机构证书');
    expect(body).toMatch(new RegExp(`绑定时间 ${shanghai(new Date(clock.nowMs()))} \\d{2}:\\d{2}`));
    expect(body).not.toContain(cert.mediaSerial!);
    // The unbind button is behind a confirm step: the first page has a link, no form.
    expect(page.text).not.toContain('/unbind"');
    expect(page.text).toContain(`href="/h5/certs/${cert.id}?confirm=unbind"`);
  });

  it('When the holder confirms 解除绑定 twice, then it is unbound once and the second answer is 404', async () => {
    const cert = await knownCertificate();
    await bind(cert, 'oUnbindTwice');
    const agent = await phone('oUnbindTwice');
    const confirm = await agent.get(`/h5/certs/${cert.id}?confirm=unbind`);
    expect(confirm.text).toContain('确认解除绑定');
    const csrf = csrfOf(confirm.text);
    const first = await agent.post(`/h5/certs/${cert.id}/unbind`).type('form').send({ _csrf: csrf });
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe('/h5/certs?unbound=1');
    expect((await agent.get('/h5/certs?unbound=1')).text).toContain('已解除绑定');
    const second = await agent.post(`/h5/certs/${cert.id}/unbind`).type('form').set('Accept', 'text/html').send({ _csrf: csrf });
    expect(second.status).toBe(404);
    expect(await new BindingRepository().findActive(t.instance.deps.db.manager, cert.id, 'oUnbindTwice')).toBeNull();
  });

  it('When the id is unknown, not a number or another handler\'s, then the answer is the same 404', async () => {
    const cert = await knownCertificate({ organization: '梅州别人单位' });
    await bind(cert, 'oSomeoneElse');
    const agent = await phone('oProber');
    for (const id of [String(cert.id), '999999', 'abc', '-1', '1e3']) {
      const res = await agent.get(`/h5/certs/${id}`).set('Accept', 'text/html');
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('梅州别人单位');
    }
  });

  it('When the unbind form lacks the CSRF token, then it is refused and the binding stays', async () => {
    const cert = await knownCertificate();
    await bind(cert, 'oCsrfUnbind');
    const agent = await phone('oCsrfUnbind');
    const res = await agent.post(`/h5/certs/${cert.id}/unbind`).type('form').set('Accept', 'text/html').send({ _csrf: 'forged' });
    expect(res.status).toBe(403);
    expect(await new BindingRepository().findActive(t.instance.deps.db.manager, cert.id, 'oCsrfUnbind')).not.toBeNull();
  });
});
