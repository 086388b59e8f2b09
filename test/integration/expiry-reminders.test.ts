import { randomBytes } from 'node:crypto';
import { inTransaction } from '../../src/lib/db/transaction';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate, CertificateEntity } from '../../src/modules/certificates/entities';
import { ExpiryReminderEntity } from '../../src/modules/reminders/entities';
import { ExpiryReminderService } from '../../src/modules/reminders/service';
import { ReminderStats } from '../../src/modules/reminders/stats';
import { SubscribeConsents } from '../../src/modules/reminders/subscribe-consents';
import { renewalAddress } from '../../src/modules/renewals/phone-view';
import { subscribeEventXml } from '../../src/modules/wechat-webhook/outbound-request';
import { csrfOf, loginAs } from '../helpers/h5-login';
import { verifyHandler } from '../helpers/handlers';
import { backend, TestClock } from '../helpers/harness';
import { installOnToken, pcPage, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { eventXml, sendToWebhook } from '../helpers/webhook';
import { useTestApp } from '../helpers/use-test-app';

/**
 * 到期提醒: the daily run against the sandbox WeChat API (real client), the sandbox SMS outbox and the webhook, with
 * an injected clock moved across China days.
 */
const DAY = 86_400_000;
const TEMPLATE = 'tpl-expiry-reminder-01';
const SUBSCRIBE = 'sub-expiry-reminder-01';
const BASE = 'http://cam.test';
const clock = new TestClock();
const t = useTestApp({
  wechat: true, clock,
  env: { PUBLIC_BASE_URL: BASE, TRUST_PROXY: 'true', WECHAT_TEMPLATE_EXPIRY_REMINDER: TEMPLATE, WECHAT_SUBSCRIBE_TEMPLATE_EXPIRY: SUBSCRIBE, REMINDER_SENDS_PER_SECOND: '1000' },
});
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));

let seq = 0;
const run = () => new ExpiryReminderService(t.instance.deps).runDaily();
const webhookTime = () => Math.floor(clock.nowMs() / 1000);
/** As WeChat posts it, signed at the (moved) clock's time: the webhook refuses timestamps far from its own now. */
const post = (xml: string) => sendToWebhook(t.instance.app, xml, { timestamp: webhookTime() });
const templateCalls = (openid: string) => t.sandbox.state.calls.filter((c) => c.api.includes('message/template/send') && (c.request as { touser?: string; template_id?: string }).touser === openid
  && (c.request as { template_id?: string }).template_id === TEMPLATE);
const sentTemplates = (openid: string) => t.sandbox.state.messagesTo(openid).filter((m) => m.kind === 'template' && (m.body as { template_id?: string }).template_id === TEMPLATE);
const rowsOf = (certificateId: number) => t.instance.deps.db.getRepository(ExpiryReminderEntity).find({ where: { certificateId }, order: { id: 'ASC' } });

async function follow(openid: string) {
  t.sandbox.state.recordInteraction(openid, 'subscribe');
  await post(eventXml(openid, 'subscribe', {}, webhookTime()));
}
async function unfollow(openid: string) {
  t.sandbox.state.recordInteraction(openid, 'unsubscribe');
  await post(eventXml(openid, 'unsubscribe', {}, webhookTime() + 1));
}

/** A valid certificate expiring `days` after the clock's now, bound to `openid`. */
async function certFor(openid: string, days: number): Promise<Certificate> {
  const { deps } = t.instance;
  const at = new Date(clock.nowMs());
  const org = `梅州提醒测试单位${++seq}`;
  const cert = await deps.db.getRepository(CertificateEntity).save({
    fingerprintSha256: randomBytes(32).toString('hex'), serialHex: randomBytes(8).toString('hex'), issuerDn: 'CN=Test CA', subjectDn: `CN=${org},O=${org}`,
    organization: org, creditCode: null, commonName: org, algorithm: 'RSA-2048', usage: 'sign', mediaSerial: null, project: 'test', certType: 'org',
    notBefore: new Date(at.getTime() - 300 * DAY), notAfter: new Date(at.getTime() + days * DAY), status: 'valid', revokedAt: null, supersededById: null,
    pairCertificateId: null, pem: 'test', sandbox: false, createdAt: at, updatedAt: at,
  });
  await inTransaction(deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: false }, at));
  return cert;
}

/** The handler gives a mobile with consent on the 已认证 page (verified first, logged in through the sandbox OAuth). */
async function giveMobile(openid: string, mobile: string) {
  await verifyHandler(t.instance.deps, openid);
  const agent = await loginAs(t.instance.app, t.sandbox, openid);
  const page = await agent.get('/h5/handler');
  const res = await agent.post('/h5/handler/mobile').type('form').send({ _csrf: csrfOf(page.text), mobile, mobileConsent: 'yes' });
  expect(res.status).toBe(200);
  expect(res.text).toContain('data-mobile-masked');
  return agent;
}

describe(`到期提醒 (${backend})`, () => {
  it('When days pass and the run goes twice a day, then each threshold (30, 7, 1) is sent once, and a missed 7-day day is caught up without a second 30-day one', async () => {
    const openid = `oRemind${process.pid}a`;
    await follow(openid);
    const cert = await certFor(openid, 31);
    await run();
    expect(templateCalls(openid)).toHaveLength(0);

    clock.advance(DAY); // 30 days left
    await run();
    await run();
    expect(sentTemplates(openid)).toHaveLength(1);
    const first = sentTemplates(openid)[0].body as { client_msg_id: string; url: string; data: Record<string, { value: string }> };
    expect(first.data.thing1.value).toBe(cert.organization);
    expect(first.data.thing3.value).toBe('30天后到期，请及时续期缴费');
    expect(first.url).toBe(`${BASE}/h5/renew?cert=${cert.id}`);

    clock.advance(DAY); // 29 days left: still inside 30, nothing new
    await run();
    clock.advance(23 * DAY); // 6 days left: the run on the 7-day day never happened
    await run();
    await run();
    clock.advance(5 * DAY); // 1 day left
    await run();
    clock.advance(DAY / 2);
    await run();

    expect((await rowsOf(cert.id)).map((r) => [r.thresholdDays, r.channel, r.state])).toEqual([[30, 'template', 'sent'], [7, 'template', 'sent'], [1, 'template', 'sent']]);
    expect(sentTemplates(openid)).toHaveLength(3);
    // Each send had its own client_msg_id: a retried send would be dropped by WeChat.
    expect(new Set(templateCalls(openid).map((c) => (c.request as { client_msg_id: string }).client_msg_id)).size).toBe(3);
    const sent = await t.instance.deps.metrics.reminders.get();
    expect(sent.values.find((v) => v.labels.threshold === '7' && v.labels.channel === 'template' && v.labels.result === 'sent')?.value).toBeGreaterThanOrEqual(1);
  });

  it('When a follower receives the reminder and WeChat posts TEMPLATESENDJOBFINISH, then the outcome is recorded on that reminder by msgid', async () => {
    const openid = `oRemind${process.pid}b`;
    await follow(openid);
    const cert = await certFor(openid, 7);
    await run();
    const [row] = await rowsOf(cert.id);
    expect(row).toMatchObject({ thresholdDays: 7, channel: 'template', state: 'sent' });
    expect(row.msgid).toMatch(/^\d{19}$/);
    const stats = new ReminderStats(t.instance.deps.db, clock);
    expect((await stats.outcomeOf(row.id))?.report).toBeNull();

    const report = eventXml(openid, 'TEMPLATESENDJOBFINISH', { MsgID: row.msgid!, Status: 'failed:user block' }, webhookTime());
    expect((await post(report)).res.text).toBe('success');
    expect((await post(report)).res.text).toBe('success'); // WeChat's retry: nothing twice

    expect(await stats.outcomeOf(row.id)).toMatchObject({ state: 'sent', channel: 'template', msgid: row.msgid, report: 'failed:user block' });
    const today = await stats.today();
    expect(today.templateOutcomes.find((o) => o.status === 'failed:user block')?.count).toBeGreaterThanOrEqual(1);
    expect(today.byChannel.find((c) => c.channel === 'template' && c.state === 'sent')?.count).toBeGreaterThanOrEqual(1);
  });

  it('When the handler unfollowed, then no WeChat message is sent: an SMS when they gave a mobile with consent, else nothing', async () => {
    const withMobile = `oRemind${process.pid}c`;
    const without = `oRemind${process.pid}d`;
    for (const openid of [withMobile, without]) {
      await follow(openid);
      await unfollow(openid);
    }
    await giveMobile(withMobile, '138 0013 8000');
    const a = await certFor(withMobile, 7);
    const b = await certFor(without, 7);
    await run();
    await run();

    expect(templateCalls(withMobile)).toHaveLength(0);
    expect(templateCalls(without)).toHaveLength(0);
    const sms = t.instance.deps.sandboxSms!.to('13800138000');
    expect(sms).toHaveLength(1);
    expect(sms[0].text).toContain(a.organization!);
    expect(sms[0].text).toContain('请在微信公众号“数安CA管家”中续期缴费');
    expect(await rowsOf(a.id)).toMatchObject([{ channel: 'sms', state: 'sent' }]);
    expect(await rowsOf(b.id)).toMatchObject([{ channel: null, state: 'unreachable', detail: 'not-following' }]);
  });

  it('When the handler withdraws the mobile, then the number is deleted and the next reminder sends no SMS', async () => {
    const openid = `oRemind${process.pid}e`;
    const agent = await giveMobile(openid, '13900139000');
    const page = await agent.get('/h5/handler');
    const res = await agent.post('/h5/handler/mobile').type('form').send({ _csrf: csrfOf(page.text), action: 'withdraw' });
    expect(res.text).toContain('已删除手机号');
    const cert = await certFor(openid, 1);
    await run();
    expect(t.instance.deps.sandboxSms!.to('13900139000')).toHaveLength(0);
    expect(await rowsOf(cert.id)).toMatchObject([{ state: 'unreachable' }]);
  });

  it('When the certificate is paid but not renewed, then the reminder says to finish on the PC (template to the certificate page, SMS with the PC address)', async () => {
    const follower = `oRemind${process.pid}f`;
    await follow(follower);
    const f = await renewalFixture(t.instance.deps, { openid: follower, days: 7, pay: 'wechatpay' });
    const gone = `oRemind${process.pid}g`;
    const g = await renewalFixture(t.instance.deps, { openid: gone, days: 7, pay: 'wechatpay' });
    await giveMobile(gone, '13700137000');
    await run();

    const [message] = sentTemplates(follower).map((m) => m.body as { url: string; data: Record<string, { value: string }> });
    expect(message.data.thing3.value).toBe('已缴费，请在电脑上完成续期');
    expect(message.url).toBe(`${BASE}/h5/certs/${f.cert.id}`);
    expect(await rowsOf(f.cert.id)).toMatchObject([{ kind: 'paid', channel: 'template' }]);
    const [sms] = t.instance.deps.sandboxSms!.to('13700137000');
    expect(sms.template).toBe('paid');
    expect(sms.text).toContain(renewalAddress(BASE));
    expect(await rowsOf(g.cert.id)).toMatchObject([{ kind: 'paid', channel: 'sms', state: 'sent' }]);
  });

  it('When the certificate was renewed, then no reminder is claimed or sent for it', async () => {
    const openid = `oRemind${process.pid}h`;
    await follow(openid);
    const f = await renewalFixture(t.instance.deps, { openid, days: 7 });
    const page = await pcPage(t.instance.app);
    const r = await renewUpToIssued(page, f);
    expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).status).toBe(200);
    await run();
    expect(await rowsOf(f.cert.id)).toHaveLength(0);
    expect(sentTemplates(openid)).toHaveLength(0);
  });

  it('When WeChat refuses the template and the follower accepted the 订阅通知 popup, then one bizsend goes out and the acceptance is used up', async () => {
    const openid = `oRemind${process.pid}i`;
    await follow(openid);
    // The user taps 允许 in the popup: WeChat records it and posts subscribe_msg_popup_event to our webhook.
    t.sandbox.state.answerSubscribePopup(openid, SUBSCRIBE, true);
    const popup = subscribeEventXml({ toUser: 'gh_test', fromUser: openid, createTime: webhookTime(), event: 'subscribe_msg_popup_event', answers: [{ templateId: SUBSCRIBE, status: 'accept' }] });
    expect((await post(popup)).res.text).toBe('success');
    const consents = new SubscribeConsents(t.instance.deps.db, clock);
    expect(await consents.grantsOf(openid, SUBSCRIBE)).toBe(1);

    const a = await certFor(openid, 7);
    const b = await certFor(openid, 1);
    t.sandbox.state.injectedErrors.set('cgi-bin/message/template/send', [40037, 40037]);
    await run();

    const bizsends = t.sandbox.state.callsTo('cgi-bin/message/subscribe/bizsend').filter((c) => (c.request as { touser?: string }).touser === openid);
    expect(bizsends).toHaveLength(1);
    expect(t.sandbox.state.messagesTo(openid).filter((m) => m.kind === 'subscribe')).toHaveLength(1);
    expect(await consents.grantsOf(openid, SUBSCRIBE)).toBe(0);
    const channels = [...(await rowsOf(a.id)), ...(await rowsOf(b.id))].map((r) => r.channel ?? r.detail).sort();
    expect(channels).toEqual(['subscribe', 'template:40037']);
  });

  it('When the certificate page is opened outside WeChat, then no 订阅通知 opt-in; inside WeChat as a follower, then the wx-open-subscribe tag for the template, with openTagList', async () => {
    const openid = `oRemind${process.pid}j`;
    await follow(openid);
    const cert = await certFor(openid, 20);
    const agent = await loginAs(t.instance.app, t.sandbox, openid);
    const outside = await agent.get(`/h5/certs/${cert.id}`);
    expect(outside.status).toBe(200);
    expect(outside.text).not.toContain('wx-open-subscribe');
    const inside = await agent.get(`/h5/certs/${cert.id}`).set('User-Agent', 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50');
    expect(inside.text).toContain(`<wx-open-subscribe template="${SUBSCRIBE}"`);
    expect(inside.text).toContain("openTagList: ['wx-open-subscribe']");
    expect(inside.headers['content-security-policy']).toContain('https://res.wx.qq.com');

    await unfollow(openid);
    const gone = await agent.get(`/h5/certs/${cert.id}`).set('User-Agent', 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50');
    expect(gone.text).not.toContain('wx-open-subscribe');
  });
});
