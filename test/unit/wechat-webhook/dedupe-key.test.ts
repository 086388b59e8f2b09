import { dedupeKey } from '../../../src/modules/wechat-webhook/claim';
import { messageType } from '../../../src/modules/wechat-webhook/service';
import { parseWechatXml } from '../../../src/modules/wechat-webhook/xml';

/** A TEMPLATESENDJOBFINISH event as WeChat sends it: note `MsgID`, not the `MsgId` of user messages. */
function templateFinish(openid: string, msgId: string, status: string, createTime = 1_767_000_000) {
  const xml = parseWechatXml(
    `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName><CreateTime>${createTime}</CreateTime>` +
      `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>${msgId}</MsgID><Status><![CDATA[${status}]]></Status></xml>`,
  );
  return { xml, openid, type: messageType(xml) };
}

describe('webhook dedupe key', () => {
  it('When two template-finish events for one user arrive in the same second, then their MsgID keeps them apart', () => {
    const a = templateFinish('oUser1', '3000000000000000001', 'success');
    const b = templateFinish('oUser1', '3000000000000000002', 'failed:user block');
    expect(dedupeKey(a)).not.toBe(dedupeKey(b));
  });

  it('When WeChat retries one template-finish event, then the key is the same', () => {
    expect(dedupeKey(templateFinish('oUser1', '3000000000000000001', 'success'))).toBe(dedupeKey(templateFinish('oUser1', '3000000000000000001', 'success')));
  });

  it('When two users get events with the same MsgID, then the keys differ', () => {
    expect(dedupeKey(templateFinish('oUser1', '3000000000000000001', 'success'))).not.toBe(dedupeKey(templateFinish('oUser2', '3000000000000000001', 'success')));
  });
});
