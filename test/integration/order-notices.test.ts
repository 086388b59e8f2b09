import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { importStatement } from '../../src/cli/import-statement';
import { FollowerRepository } from '../../src/modules/followers/repository';
import { OrderService } from '../../src/modules/orders/service';
import { ORDER_PAID_NOTICE_JOB } from '../../src/modules/payments/notices';
import { OrderNoticeEntity } from '../../src/modules/payments/undelivered-notices';
import { TransferService } from '../../src/modules/transfers/service';
import { horizontalOverflow, launchChromium, phoneContext, screenshot } from '../helpers/browser';
import { type Agent, loginAs } from '../helpers/h5-login';
import { verifyHandler } from '../helpers/handlers';
import { jobsEnded, untilJobsEnded } from '../helpers/jobs';
import { backend, TEST_WECHAT } from '../helpers/harness';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * Order notices for a user who no longer follows: the real WeChat client against the sandbox WeChat API (which
 * answers 43004 require subscribe as WeChat does), the jobs running, and the order page showing what the template
 * message would have said.
 */
const DAY = 86_400_000;
let seq = 0;

const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true', WECHAT_TEMPLATE_ORDER_PAID: 'tpl-order-paid-0001', WECHAT_TEMPLATE_TRANSFER_REJECTED: 'tpl-transfer-rej-0001' } });

/** A verified handler with a certificate in its renewal window and an order waiting for a 对公汇款. */
async function transferOrder(openid: string): Promise<{ orderNo: string; totalFen: number; code: string; organization: string }> {
  const now = Date.now();
  const at = new Date(now);
  await verifyHandler(t.instance.deps, openid, { at });
  const organization = `梅州市通知测试单位${++seq}有限公司`;
  const cert = await boundCertificate(t.instance.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
  const order = await new OrderService(t.instance.deps).createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at });
  const { code } = await new TransferService(t.instance.deps).codeFor(order.orderNo, openid, at);
  return { orderNo: order.orderNo, totalFen: order.totalFen, code, organization };
}

const importLine = (o: { totalFen: number; code: string; organization: string }, amountFen = o.totalFen) => new TransferService(t.instance.deps).importLines([{
  line: 2, date: '2026-11-25', payerName: o.organization, payerAccount: '4400100', payerBank: '建设银行', amount: (amountFen / 100).toFixed(2), remark: o.code, bankSerial: `N${Date.now()}-${++seq}`,
}], 'notices.csv', new Date());

async function noticeOf(orderNo: string) {
  const repo = t.instance.deps.db.getRepository(OrderNoticeEntity);
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    const row = await repo.findOneBy({ orderNo });
    if (row) return row;
  }
  throw new Error(`no undelivered notice for ${orderNo}`);
}

const templateCalls = (openid: string) => t.sandbox.state.calls.filter((c) => c.api.includes('message/template/send') && (c.request as { touser?: string }).touser === openid);
const delivered = (openid: string) => t.sandbox.state.outbox.filter((m) => m.kind === 'template' && m.openid === openid);
let ipSeq = 0;
const phone = (openid: string): Promise<Agent> => loginAs(t.instance.app, t.sandbox, openid, `10.7.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);

describe(`undelivered order notices (${backend})`, () => {
  it('When an order is paid for a user who unfollowed, then WeChat answers 43004 once, no message goes out, and the order page shows 支付成功 until seen', async () => {
    const openid = 'oNoticeUnfollowed';
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    t.sandbox.state.recordInteraction(openid, 'unsubscribe');
    const order = await transferOrder(openid);
    const noticesBefore = await jobsEnded([t.instance.deps], ORDER_PAID_NOTICE_JOB);
    expect((await importLine(order))[0].result).toBe('credited');

    const notice = await noticeOf(order.orderNo);
    expect(notice).toMatchObject({ kind: 'paid', openid, amountFen: order.totalFen, detail: '数字证书续期1张', errcode: 43004, seenAt: null });
    // 43004 is a refusal that will not change: the job ends (no retry is scheduled) after that one call.
    await untilJobsEnded([t.instance.deps], ORDER_PAID_NOTICE_JOB, noticesBefore + 1);
    expect(templateCalls(openid).map((c) => (c.response as { errcode?: number }).errcode)).toEqual([43004]);
    expect(delivered(openid)).toEqual([]);

    const agent = await phone(openid);
    const list = await agent.get('/h5/orders');
    expect(list.text).toContain(`<a class="weui-link" href="/h5/orders/${order.orderNo}">${order.orderNo}</a>`);
    const page = await agent.get(`/h5/orders/${order.orderNo}`);
    expect(page.text).toContain('data-undelivered="paid"');
    expect(page.text).toContain('您目前未关注「GDCA 数安时代」公众号，以下订单通知未能通过微信送达');
    expect(page.text).toContain('订单支付成功');
    expect(page.text).toContain(`${(order.totalFen / 100).toFixed(2)}元`);
    // Seen once: the next visit (and the list) no longer show it.
    expect((await agent.get(`/h5/orders/${order.orderNo}`)).text).not.toContain('data-undelivered');
    expect((await agent.get('/h5/orders')).text).not.toContain('data-undelivered');
  });

  it('When a transfer is turned down and the followers table says the user left, then WeChat is not asked and the order page shows 汇款未通过 once, with the reason, while the order is open', async () => {
    const openid = 'oNoticeLeft';
    await new FollowerRepository().apply(t.instance.deps.db, openid, { kind: 'unsubscribe' }, new Date(), false);
    const order = await transferOrder(openid);
    expect((await importLine(order, order.totalFen - 1))[0]).toMatchObject({ result: 'exception', reason: 'amount-mismatch' });

    expect(await noticeOf(order.orderNo)).toMatchObject({ kind: 'transfer-rejected', detail: '汇款金额与订单金额不符', amountFen: order.totalFen });
    expect(templateCalls(openid)).toEqual([]);

    const agent = await phone(openid);
    for (let visit = 0; visit < 2; visit++) {
      const page = await agent.get(`/h5/orders/${order.orderNo}`);
      // Said once, in the page's own section, with the reason and why no message came.
      expect(page.text.match(/汇款未通过/g)).toHaveLength(1);
      expect(page.text).not.toContain('data-undelivered');
      expect(page.text).toMatch(/data-transfer-rejected[\s\S]*原因：<span data-reason>汇款金额与订单金额不符/);
      expect(page.text).toContain('您目前未关注「GDCA 数安时代」公众号，此通知未能通过微信送达');
    }
    await new OrderService(t.instance.deps).cancel(order.orderNo, openid, new Date());
    expect((await agent.get(`/h5/orders/${order.orderNo}`)).text).not.toContain('data-undelivered');
  });

  it('When the user still follows, then the message is delivered and the order page shows no notice', async () => {
    const openid = 'oNoticeFollowing';
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    const order = await transferOrder(openid);
    await importLine(order);
    for (const until = Date.now() + 10_000; !delivered(openid).length && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    expect(delivered(openid)).toHaveLength(1);
    expect(await t.instance.deps.db.getRepository(OrderNoticeEntity).findOneBy({ orderNo: order.orderNo })).toBeNull();
    expect((await (await phone(openid)).get(`/h5/orders/${order.orderNo}`)).text).not.toContain('data-undelivered');
  });

  it('When the import command credits an order, then the 订单支付成功 message goes out (the server\'s workers take it on Redis; the command works its own in-process queue on the embedded default)', async () => {
    const openid = 'oNoticeByCommand';
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    const order = await transferOrder(openid);
    const file = join(mkdtempSync(join(tmpdir(), 'notice-cli-')), 'statement.csv');
    writeFileSync(file, `交易日期,付款人名称,付款账号,付款行,金额,附言,流水号\n2026-11-25,${order.organization},4400100,建设银行,${(order.totalFen / 100).toFixed(2)},${order.code},CLI${Date.now()}\n`);
    const lines: string[] = [];
    const env = { ...t.handle.env, ...TEST_WECHAT, WECHAT_API_BASE: t.sandbox.url, WECHAT_TEMPLATE_ORDER_PAID: 'tpl-order-paid-0001', APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef' };
    expect(await importStatement({ env, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) }, [file])).toMatchObject({ credited: 1 });
    expect(lines.filter((l) => l.startsWith('ERR'))).toEqual([]);
    for (const until = Date.now() + 10_000; !delivered(openid).length && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    expect(delivered(openid)).toHaveLength(1);
  });

  it('When the order page with a notice is opened on a 375 px phone, then the notice fits without horizontal scrolling', async () => {
    const openid = 'oNoticeShot';
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    t.sandbox.state.recordInteraction(openid, 'unsubscribe');
    const order = await transferOrder(openid);
    await importLine(order);
    await noticeOf(order.orderNo);
    const agent = await phone(openid);
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const context = await phoneContext(browser);
      // The phone's requests go through the logged-in agent (its session cookie), so no port is opened.
      await context.route('http://h5.test/**', async (route) => {
        const res = await agent.get(new URL(route.request().url()).pathname).buffer(true);
        await route.fulfill({ status: res.status, headers: { 'content-type': String(res.headers['content-type'] ?? 'text/html') }, body: res.body instanceof Buffer ? res.body : Buffer.from(res.text ?? '') });
      });
      const tab = await context.newPage();
      await tab.goto(`http://h5.test/h5/orders/${order.orderNo}`);
      await expect(tab.locator('[data-undelivered="paid"]').isVisible()).resolves.toBe(true);
      expect(await horizontalOverflow(tab)).toBe(0);
      await screenshot(tab, `order-undelivered-notice-${backend}`);
    } finally {
      await browser?.close();
    }
  });

  it('When the 汇款未通过 order page of a user who left is opened on a 375 px phone, then it says it once and fits without horizontal scrolling', async () => {
    const openid = 'oNoticeRejectedShot';
    await new FollowerRepository().apply(t.instance.deps.db, openid, { kind: 'unsubscribe' }, new Date(), false);
    const order = await transferOrder(openid);
    await importLine(order, order.totalFen - 1);
    await noticeOf(order.orderNo);
    const agent = await phone(openid);
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const context = await phoneContext(browser);
      await context.route('http://h5.test/**', async (route) => {
        const res = await agent.get(new URL(route.request().url()).pathname).buffer(true);
        await route.fulfill({ status: res.status, headers: { 'content-type': String(res.headers['content-type'] ?? 'text/html') }, body: res.body instanceof Buffer ? res.body : Buffer.from(res.text ?? '') });
      });
      const tab = await context.newPage();
      await tab.goto(`http://h5.test/h5/orders/${order.orderNo}`);
      await expect(tab.locator('[data-rejection-undelivered]').isVisible()).resolves.toBe(true);
      await expect(tab.getByText('汇款未通过').count()).resolves.toBe(1);
      expect(await horizontalOverflow(tab)).toBe(0);
      await screenshot(tab, `order-transfer-rejected-unfollowed-${backend}`);
    } finally {
      await browser?.close();
    }
  });
});
