import { NoticeOutboxEntity } from '../../src/modules/notices/outbox';
import { OrderNoticeEntity } from '../../src/modules/payments/undelivered-notices';
import { CERT_RENEWED_NOTICE_JOB } from '../../src/modules/renewals/install';
import { backend } from '../helpers/harness';
import { jobsEnded, untilJobsEnded } from '../helpers/jobs';
import { installOnToken, pcPage, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { useTestApp } from '../helpers/use-test-app';

/**
 * 证书续期成功: owed in the INSTALLED transaction, sent by its job through the real WeChat client to the sandbox WeChat
 * API (client_msg_id per renewal); a user who unfollowed gets 43004 once and the order page keeps the notice.
 */
const TEMPLATE = 'tpl-cert-renewed-0001';
const t = useTestApp({ wechat: true, env: { PUBLIC_BASE_URL: 'http://cam.test', WECHAT_TEMPLATE_CERT_RENEWED: TEMPLATE } });
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));

const renewalCalls = (openid: string) => t.sandbox.state.calls.filter((c) => c.api.includes('message/template/send')
  && (c.request as { touser?: string; template_id?: string }).touser === openid && (c.request as { template_id?: string }).template_id === TEMPLATE);

async function renewFor(openid: string) {
  const f = await renewalFixture(t.instance.deps, { openid });
  const page = await pcPage(t.instance.app);
  const r = await renewUpToIssued(page, f);
  const before = await jobsEnded([t.instance.deps], CERT_RENEWED_NOTICE_JOB);
  expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).status).toBe(200);
  await untilJobsEnded([t.instance.deps], CERT_RENEWED_NOTICE_JOB, before + 1);
  return { f, r };
}

describe(`证书续期成功 (${backend})`, () => {
  it('When a renewal is INSTALLED for a follower, then one 证书续期成功 goes out with the new serial and validity, client_msg_id per renewal', async () => {
    const openid = `oRenewNotice${process.pid}`;
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    const { f, r } = await renewFor(openid);
    const calls = renewalCalls(openid);
    expect(calls).toHaveLength(1);
    const sent = calls[0].request as { client_msg_id: string; data: Record<string, { value: string }>; url: string };
    expect(sent.client_msg_id).toBe(`renewed-${r.renewalId}`);
    expect(sent.data.character_string2.value).toBe(r.issued!.body.serialHex.toUpperCase());
    expect(sent.data.thing1.value).toBe([...f.cert.organization!].slice(0, 20).join(''));
    expect((await t.instance.deps.db.getRepository(NoticeOutboxEntity).findOneByOrFail({ noticeKey: `renewed-${r.renewalId}` })).state).toBe('sent');
  });

  it('When the handler no longer follows, then WeChat answers 43004 once and the notice is kept for the order page', async () => {
    const openid = `oRenewGone${process.pid}`;
    t.sandbox.state.recordInteraction(openid, 'subscribe');
    t.sandbox.state.recordInteraction(openid, 'unsubscribe');
    const { f } = await renewFor(openid);
    expect(renewalCalls(openid).length).toBeLessThanOrEqual(1);
    const kept = await t.instance.deps.db.getRepository(OrderNoticeEntity).findOneByOrFail({ orderNo: f.order!.orderNo, kind: 'cert-renewed' });
    expect(kept).toMatchObject({ openid, errcode: 43004 });
  });
});


