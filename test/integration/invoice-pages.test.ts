import { INVOICE_FORM_MESSAGES as M } from '../../src/modules/invoices/schemas';
import { backend } from '../helpers/harness';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { paidOrder } from '../helpers/paid-orders';
import { useTestApp } from '../helpers/use-test-app';

/**
 * 我的发票 through WeChat OAuth, on MariaDB + Redis and on the embedded default: 待开票 and 开票历史, the form's
 * refusals (one Chinese message per field), one request per double tap, the history once the issuing job is done,
 * and nothing of another handler's.
 */
jest.setTimeout(60_000);
const WECHAT_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322f) NetType/WIFI Language/zh_CN';
// The sandbox issuer answers after 300 ms and is asked every 50 ms: the issuing job finishes in well under a second.
const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true', LOG_LEVEL: 'error', EINVOICE_SANDBOX_DELAY_MS: '300', EINVOICE_POLL_MS: '50' } });

let ipSeq = 0;
const login = (openid: string) => loginAs(t.instance.app, t.sandbox, openid, `10.7.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);

const GOOD = { buyerKind: 'organisation', taxId: '91441400MA4UU2H23W', email: 'caiwu@example.cn', mobile: '13800138000' };

async function formFor(agent: Agent, orderNos: string[]) {
  const res = await agent.get(`/h5/invoices/new?orderNos=${orderNos.join(',')}`);
  expect(res.status).toBe(200);
  return res;
}

async function submit(agent: Agent, orderNos: string[], fields: Record<string, string>) {
  const page = await formFor(agent, orderNos);
  return agent.post('/h5/invoices').type('form').send({ _csrf: csrfOf(page.text), orderNos: orderNos.join(','), ...fields });
}

const acceptanceNoOf = (location: string) => /\/h5\/invoices\/(FP\w+)\?created=1/.exec(location)?.[1];
const fieldError = (html: string, field: string) => new RegExp(`data-error-for="${field}"\\s*>([^<]*)<`).exec(html)?.[1] ?? '';

/** Reads the detail page until the request has an outcome (the page itself refreshes every 3 s while 开票中). */
async function untilSettled(agent: Agent, acceptanceNo: string, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await agent.get(`/h5/invoices/${acceptanceNo}`);
    expect(res.status).toBe(200);
    const status = /class="cam-status" data-status="([\w-]+)"/.exec(res.text)?.[1];
    if (status !== 'issuing') return res.text;
    if (Date.now() > deadline) throw new Error(`invoice ${acceptanceNo} still issuing after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`我的发票 pages (${backend})`, () => {
  it('When a handler opens 我的发票, then 待开票 lists each paid order with its amount and the page is 我的发票 itself, no longer 即将开放', async () => {
    const a = await paidOrder(t.instance.deps, 'oInvList');
    const b = await paidOrder(t.instance.deps, 'oInvList');
    const agent = await login('oInvList');
    const res = await agent.get('/h5/invoices');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    for (const o of [a, b]) expect(res.text).toMatch(new RegExp(`name="orderNos" value="${o.orderNo}" data-fen="20000"`));
    expect(res.text).not.toContain('即将开放');
    const history = await agent.get('/h5/invoices?tab=history');
    expect(history.text).toContain('暂无开票记录');
  });

  it('When another handler tries someone else\'s orders or invoice, then they see none of it: not listed, no form, refused, 404', async () => {
    const mine = await paidOrder(t.instance.deps, 'oInvOwner');
    const owner = await login('oInvOwner');
    const created = await submit(owner, [mine.orderNo], { ...GOOD, title: mine.organization });
    const acceptanceNo = acceptanceNoOf(created.headers.location)!;
    expect(acceptanceNo).toBeDefined();

    const theirs = await paidOrder(t.instance.deps, 'oInvStranger');
    const stranger = await login('oInvStranger');
    expect((await stranger.get('/h5/invoices')).text).not.toContain(mine.orderNo);
    expect((await stranger.get('/h5/invoices?tab=history')).text).not.toContain(acceptanceNo);
    const form = await stranger.get(`/h5/invoices/new?orderNos=${mine.orderNo}`);
    expect(form.status).toBe(302);
    expect(form.headers.location).toBe('/h5/invoices?gone=1');
    // A form of their own, tampered to carry the other handler's order.
    const csrf = csrfOf((await formFor(stranger, [theirs.orderNo])).text);
    const post = await stranger.post('/h5/invoices').type('form').send({ _csrf: csrf, orderNos: mine.orderNo, ...GOOD, title: '冒名单位' });
    expect(post.status).toBe(302);
    expect(post.headers.location).toBe('/h5/invoices?gone=1');
    expect((await stranger.get(`/h5/invoices/${acceptanceNo}`)).status).toBe(404);
    expect((await stranger.post(`/h5/invoices/${acceptanceNo}/resend`).type('form').send({ _csrf: csrf })).status).toBe(404);
    expect((await owner.get('/h5/invoices?tab=history')).text.match(/data-invoice="FP\w+"/g)).toHaveLength(1);
  });

  it('When the form is sent with mistakes, then it comes back (422) with the Chinese message under each field and the values kept', async () => {
    const o = await paidOrder(t.instance.deps, 'oInvInvalid');
    const agent = await login('oInvInvalid');
    const res = await submit(agent, [o.orderNo], {
      buyerKind: 'organisation', title: '', taxId: '91441400MA4UU2H23X', bankAccount: '6222-abc', phone: '电话', email: 'caiwu@', mobile: '12345678901',
    });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, 'title')).toBe(M.titleRequired);
    expect(fieldError(res.text, 'taxId')).toBe(M.taxIdCheckDigit);
    expect(fieldError(res.text, 'bankAccount')).toBe(M.bankAccount);
    expect(fieldError(res.text, 'phone')).toBe(M.phone);
    expect(fieldError(res.text, 'email')).toBe(M.email);
    expect(fieldError(res.text, 'mobile')).toBe(M.mobile);
    expect(res.text).toContain('value="91441400MA4UU2H23X"');

    const missing = await submit(agent, [o.orderNo], { buyerKind: 'organisation', title: o.organization, taxId: '', email: '' });
    expect(fieldError(missing.text, 'taxId')).toBe(M.taxIdRequired);
    expect(fieldError(missing.text, 'email')).toBe(M.emailRequired);
    const format = await submit(agent, [o.orderNo], { ...GOOD, title: o.organization, taxId: '1234' });
    expect(fieldError(format.text, 'taxId')).toBe(M.taxIdFormat);
    // Nothing was requested by any of these.
    expect((await agent.get('/h5/invoices?tab=history')).text).toContain('暂无开票记录');
  });

  it('When the form has no CSRF token, then it is refused and nothing is requested', async () => {
    const o = await paidOrder(t.instance.deps, 'oInvCsrf');
    const agent = await login('oInvCsrf');
    const res = await agent.post('/h5/invoices').type('form').send({ orderNos: o.orderNo, ...GOOD, title: o.organization });
    expect(res.status).toBe(403);
    expect((await agent.get('/h5/invoices')).text).toContain(o.orderNo);
  });

  it('When 开票 is tapped twice at once, then one request is made and both taps land on it', async () => {
    const o = await paidOrder(t.instance.deps, 'oInvTwice');
    const agent = await login('oInvTwice');
    const page = await formFor(agent, [o.orderNo]);
    const body = { _csrf: csrfOf(page.text), orderNos: o.orderNo, ...GOOD, title: o.organization };
    const [first, second] = await Promise.all([agent.post('/h5/invoices').type('form').send(body), agent.post('/h5/invoices').type('form').send(body)]);
    expect([first.status, second.status]).toEqual([302, 302]);
    const nos = [acceptanceNoOf(first.headers.location), acceptanceNoOf(second.headers.location)];
    expect(nos[0]).toBeDefined();
    expect(nos[1]).toBe(nos[0]);
    const history = await agent.get('/h5/invoices?tab=history');
    expect(history.text.match(/data-invoice="FP\w+"/g)).toHaveLength(1);
    expect((await agent.get('/h5/invoices')).text).not.toContain(`value="${o.orderNo}"`);
  });

  it('When two orders are invoiced in one request and the job completes, then 开票历史 shows 发票抬头, a 20-digit 发票编号, 受理单号 and 开票时间, and the detail the link', async () => {
    const a = await paidOrder(t.instance.deps, 'oInvIssued');
    const b = await paidOrder(t.instance.deps, 'oInvIssued');
    const agent = await login('oInvIssued');
    const res = await submit(agent, [a.orderNo, b.orderNo], { ...GOOD, title: a.organization, bankName: '中国工商银行梅州分行', bankAccount: '2007 0201 0920 0123 456' });
    expect(res.status).toBe(302);
    const acceptanceNo = acceptanceNoOf(res.headers.location)!;
    const detail = await untilSettled(agent, acceptanceNo);
    expect(detail).toContain('data-status="issued"');
    expect(detail).toMatch(/data-invoice-link>https?:\/\/[^<]+\/i\/[\w-]{22,}</);
    expect(detail).toContain('微信内置浏览器不能下载文件');
    expect(detail).toContain('¥400.00');
    expect(detail).toContain('2007020109200123456');

    const history = await agent.get('/h5/invoices?tab=history');
    const row = new RegExp(`data-invoice="${acceptanceNo}" data-status="issued">[\\s\\S]*?</li>`).exec(history.text)?.[0] ?? '';
    expect(row).toContain(`<dt>发票抬头</dt><dd>${a.organization}</dd>`);
    expect(row).toMatch(/<dt>发票编号<\/dt><dd class="cam-mono" data-number>\d{20}<\/dd>/);
    expect(row).toContain(`<dt>受理单号</dt><dd class="cam-mono">${acceptanceNo}</dd>`);
    expect(row).toMatch(/<dt>开票时间<\/dt><dd>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}<\/dd>/);
    expect(row).toContain('已开具');

    // 重新发送到邮箱: queued for the request's address, said on the page.
    const resend = await agent.post(`/h5/invoices/${acceptanceNo}/resend`).type('form').send({ _csrf: csrfOf(detail) });
    expect(resend.status).toBe(302);
    expect(resend.headers.location).toBe(`/h5/invoices/${acceptanceNo}?resent=1`);
    expect((await agent.get(resend.headers.location)).text).toContain('发票已重新发送至 caiwu@example.cn');
  });

  it('When the title is not the certificate\'s organisation, then the form warns and the request is still made; an individual needs no 税号', async () => {
    const o = await paidOrder(t.instance.deps, 'oInvWarn');
    const agent = await login('oInvWarn');
    const form = await formFor(agent, [o.orderNo]);
    expect(form.text).toContain(`value="${o.organization}"`);
    const res = await submit(agent, [o.orderNo], { ...GOOD, title: '梅州市另一家单位有限公司' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(/warned=1/);
    const detail = await agent.get(res.headers.location);
    expect(detail.text).toContain('发票抬头与证书上的单位名称不一致');

    const p = await paidOrder(t.instance.deps, 'oInvWarn');
    const person = await submit(agent, [p.orderNo], { buyerKind: 'individual', title: '张三', taxId: '', email: 'zhangsan@example.cn' });
    expect(person.status).toBe(302);
    expect(acceptanceNoOf(person.headers.location)).toBeDefined();
  });

  it('When 开票 is reached with nothing ticked, then 待开票 comes back saying to choose an order', async () => {
    await paidOrder(t.instance.deps, 'oInvNone');
    const agent = await login('oInvNone');
    const res = await agent.get('/h5/invoices/new');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/data-notice>请选择要开票的订单</);
    const tampered = await agent.get('/h5/invoices/new?orderNos=%3Cscript%3E');
    expect(tampered.text).toMatch(/data-notice>所选订单有误，请刷新页面后重新选择</);
  });

  it('When a title was used before, then the next form offers it, and its owner alone can delete it', async () => {
    const first = await paidOrder(t.instance.deps, 'oInvRecent');
    const agent = await login('oInvRecent');
    expect((await submit(agent, [first.orderNo], { ...GOOD, title: first.organization })).status).toBe(302);
    const next = await paidOrder(t.instance.deps, 'oInvRecent');
    const form = await formFor(agent, [next.orderNo]);
    const id = /data-recent="(\d+)"/.exec(form.text)?.[1];
    expect(id).toBeDefined();
    expect(form.text).toContain(`<span class="cam-recent__label">${first.organization}`);

    const theirs = await paidOrder(t.instance.deps, 'oInvRecentOther');
    const other = await login('oInvRecentOther');
    const otherCsrf = csrfOf((await formFor(other, [theirs.orderNo])).text);
    expect((await other.post(`/h5/invoices/titles/${id}/delete`).type('form').send({ _csrf: otherCsrf })).status).toBe(404);

    const deleted = await agent.post(`/h5/invoices/titles/${id}/delete`).type('form').send({ _csrf: csrfOf(form.text), orderNos: next.orderNo });
    expect(deleted.status).toBe(302);
    expect(deleted.headers.location).toBe(`/h5/invoices/new?orderNos=${next.orderNo}`);
    expect((await agent.get(deleted.headers.location)).text).not.toContain(`data-recent="${id}"`);
  });

  it('When the form opens inside WeChat, then it carries a wx.config signature the (sandbox) WeChat accepts, and only that page allows res.wx.qq.com', async () => {
    const o = await paidOrder(t.instance.deps, 'oInvWx');
    const agent = await login('oInvWx');
    const path = `/h5/invoices/new?orderNos=${o.orderNo}`;
    const inWechat = await agent.get(path).set('User-Agent', WECHAT_UA);
    expect(inWechat.headers['content-security-policy']).toMatch(/script-src [^;]*https:\/\/res\.wx\.qq\.com/);
    expect(inWechat.text).toContain('https://res.wx.qq.com/open/js/jweixin-1.6.0.js');
    const config = JSON.parse(/id="wx-config" data-json="([^"]+)"/.exec(inWechat.text)![1].replace(/&quot;/g, '"')) as Record<string, unknown>;
    const check = await fetch(`${t.sandbox.url}/js-sdk/config`, { method: 'POST', body: JSON.stringify({ ...config, url: `${t.instance.config.publicBaseUrl}${path}` }) });
    expect(((await check.json()) as { errMsg: string }).errMsg).toBe('config:ok');

    const outside = await agent.get(path).set('User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120');
    expect(outside.text).not.toContain('id="wx-config"');
    expect(outside.text).toContain('hidden data-wx-title');
    expect((await agent.get('/h5/invoices')).headers['content-security-policy']).not.toContain('res.wx.qq.com');
  });
});
