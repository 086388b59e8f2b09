import request from 'supertest';
import { parseWechatXml } from '../../src/modules/wechat-webhook/xml';
import { backend, createTestBackend, startInstance, startSandboxWechat, TEST_WECHAT, type SandboxWechatServer, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { startListening, type ListeningInstance } from '../helpers/listening';
import { eventXml, replyText, sendToWebhook, textXml, uniqueOpenid } from '../helpers/webhook';

/**
 * What the account answers to free text and to the 联系客服 menu item, through real signed, encrypted requests:
 * renewal guidance for an expiring certificate, and 人工 handed over only when people staff the desk.
 */
let sandbox: SandboxWechatServer;
let handle: TestBackendHandle;
let unstaffed: TestInstance;
let staffed: TestInstance;

beforeAll(async () => {
  sandbox = await startSandboxWechat();
  handle = await createTestBackend();
  const env = { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url };
  unstaffed = await startInstance(handle, { env });
  staffed = await startInstance(handle, { env: { ...env, WECHAT_CS_STAFFED: 'true' } });
});
afterAll(async () => {
  await staffed?.close();
  await unstaffed?.close();
  await handle?.drop();
  await sandbox?.close();
});

const replyTo = async (instance: TestInstance, xml: string) => parseWechatXml(replyText((await sendToWebhook(instance.app, xml)).res.text));

describe(`keyword replies (${backend})`, () => {
  it.each(['证书快过期了怎么办', '证书到期了', '我的证书已经过期', '怎么续费'])('When the user writes "%s", then the reply is the renewal guidance, not the certificate list', async (content) => {
    const reply = await replyTo(unstaffed, textXml(uniqueOpenid(), content));
    expect(reply.MsgType).toBe('text');
    const body = String(reply.Content);
    expect(body).toContain('【证书续期】');
    expect(body).toContain('/h5/renew');
    // 制证 on the PC: the renewal address (busyType=8).
    expect(body).toContain('/gdca-page/redirect?busyType=8');
    expect(body).not.toContain('点击“续期”');
  });

  it('When the user follows or asks about 发票, then no reply promises online invoices or renewal on the PC, which do not exist yet', async () => {
    const welcome = String((await replyTo(unstaffed, eventXml(uniqueOpenid(), 'subscribe'))).Content);
    expect(welcome).not.toMatch(/开票|在电脑上完成续期/);
    const invoice = String((await replyTo(unstaffed, textXml(uniqueOpenid(), '怎么开发票'))).Content);
    expect(invoice).toContain('尚未开放');
    expect(invoice).not.toContain('开票历史');
  });

  it('When nobody staffs customer service and the user writes 人工, then the reply gives the hotline and never says 正在为您转接', async () => {
    for (const content of ['人工', '转人工', '客服']) {
      const reply = await replyTo(unstaffed, textXml(uniqueOpenid(), content));
      expect(reply.MsgType).toBe('text');
      expect(String(reply.Content)).toContain('95105813');
      expect(String(reply.Content)).not.toContain('转接');
    }
  });

  it('When customer service is staffed (WECHAT_CS_STAFFED=true) and the user writes 人工, then the message is handed over with transfer_customer_service', async () => {
    const openid = uniqueOpenid();
    const reply = await replyTo(staffed, textXml(openid, '转人工'));
    expect(reply).toMatchObject({ MsgType: 'transfer_customer_service', ToUserName: openid, FromUserName: 'gh_test' });
    expect(reply.Content).toBeUndefined();
    // Other text still gets its guide, not a hand-over.
    expect((await replyTo(staffed, textXml(openid, '怎么开发票'))).MsgType).toBe('text');
  });

  it('When the user taps the 联系客服 menu item (a CLICK event, which WeChat never forwards), then the reply says how to reach a person', async () => {
    const click = (openid: string) => eventXml(openid, 'CLICK', { EventKey: 'CONTACT_SUPPORT' });
    const whenStaffed = await replyTo(staffed, click(uniqueOpenid()));
    expect(whenStaffed.MsgType).toBe('text');
    expect(String(whenStaffed.Content)).toContain('发送文字消息');
    const whenNot = await replyTo(unstaffed, click(uniqueOpenid()));
    expect(String(whenNot.Content)).toContain('95105813');
    expect(String(whenNot.Content)).not.toMatch(/转接|发送文字消息/);
  });
});

describe(`the /dev/wechat simulator (${backend})`, () => {
  let site: ListeningInstance;
  let simHandle: TestBackendHandle;
  beforeAll(async () => {
    simHandle = await createTestBackend();
    site = await startListening(simHandle);
  });
  afterAll(async () => {
    await site?.close();
    await simHandle?.drop();
  });

  it('When a test user is picked, then the simulator shows its unionid (what a legacy-bindings file needs to walk 二)', async () => {
    const agent = request(site.server);
    const user = (await agent.post('/dev/wechat/users').set('Accept', 'application/json').type('form').send({ nickname: 'legacy' })).body.user as { openid: string };
    const page = await agent.get(`/dev/wechat?openid=${encodeURIComponent(user.openid)}`);
    expect(page.text).toContain(`data-unionid>${site.deps.sandboxWechat!.users.get(user.openid)!.unionid}<`);
  });

  it('When the user sends text containing "]]>", then the simulator delivers it intact and shows the account\'s reply', async () => {
    const agent = request(site.server);
    const user = (await agent.post('/dev/wechat/users').set('Accept', 'application/json').type('form').send({ nickname: 'cdata' })).body.user as { openid: string };
    const sent = await agent.post('/dev/wechat/send').set('Accept', 'application/json').type('form').send({ openid: user.openid, action: 'text', content: '续期]]><b>x</b>' });
    expect(sent.status).toBe(200);
    const entries = sent.body.entries as Array<{ from: string; html: string }>;
    expect(entries.map((e) => e.from)).toEqual(['user', 'account']);
    expect(entries[0].html).toContain('续期]]&gt;&lt;b&gt;x&lt;/b&gt;');
    // The text arrived whole: it named 续期, so the answer is the renewal guide (not an error or the help text).
    expect(entries[1].html).toContain('【证书续期】');
  });
});
