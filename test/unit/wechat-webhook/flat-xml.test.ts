import { inboundXml } from '../../../src/modules/wechat-webhook/outbound-request';
import { parseFlatWechatXml, parseWechatXml, parseWithLibrary, textReplyXml } from '../../../src/modules/wechat-webhook/xml';

const base = { toUser: 'gh_x', fromUser: 'oAbc-_123', createTime: 1_767_000_000 };
/** What WeChat sends, as the flat reader must take it. */
const WECHAT_SHAPES = [
  inboundXml({ ...base, msgType: 'event', Event: 'subscribe', EventKey: 'qrscene_expo' }),
  inboundXml({ ...base, msgType: 'event', Event: 'subscribe', EventKey: '' }),
  inboundXml({ ...base, msgType: 'event', Event: 'TEMPLATESENDJOBFINISH', MsgID: 3000000000000000001, Status: 'failed:user block' }),
  inboundXml({ ...base, msgType: 'text', Content: ' 续期 <b>&amp; ]] > \n 你好 ', MsgId: '24683756234500195329' }),
  inboundXml({ ...base, msgType: 'location', Location_X: 23.134521, Location_Y: 113.358803, Scale: 20, Label: '位置信息' }),
  '<xml>\n  <ToUserName><![CDATA[gh_x]]></ToUserName>\n  <CreateTime> 1767000000 </CreateTime>\n  <Empty></Empty>\n</xml>\n',
];
/** Not WeChat's flat shape: the general parser decides (and may refuse). */
const OTHER_SHAPES = [
  '<?xml version="1.0"?><xml><A>1</A></xml>',
  '<xml><A>1</A><A>2</A></xml>',
  '<xml><A>a &amp; b</A></xml>',
  '<xml><A><![CDATA[a]]]]><![CDATA[>b]]></A></xml>',
  '<xml><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType></ScanCodeInfo></xml>',
  '<xml><A x="1">v</A></xml>',
  '<xml><A/></xml>',
  '<xml><A>1</B></xml>',
  '<xml><A>1</A>',
  '<xml><A>1</A></xml><xml></xml>',
  '<xml><__proto__>x</__proto__></xml>',
  '<xml><A><![CDATA[x]]> </A></xml>',
  ' <xml><A>1</A></xml>',
];

describe('flat WeChat XML reader', () => {
  it.each(WECHAT_SHAPES.map((x) => [x]))('When WeChat sends %j, then the flat reader takes it and agrees with fast-xml-parser', (xml) => {
    const flat = parseFlatWechatXml(xml);
    expect(flat).toBeDefined();
    expect(flat).toEqual(parseWithLibrary(xml));
  });

  it.each(OTHER_SHAPES.map((x) => [x]))('When the XML is %j, then the flat reader steps aside and the result is the general parser\'s', (xml) => {
    expect(parseFlatWechatXml(xml)).toBeUndefined();
    let general: unknown;
    let generalError: string | undefined;
    try {
      general = parseWithLibrary(xml);
    } catch (err) {
      generalError = (err as Error).message;
    }
    if (generalError) expect(() => parseWechatXml(xml)).toThrow(generalError);
    else expect(parseWechatXml(xml)).toEqual(general);
  });

  it('When our own reply carries "]]>", then it still reads back to the same text', () => {
    expect(parseWechatXml(textReplyXml('o', 'g', 'a]]>b', 1)).Content).toBe('a]]>b');
  });

  it('When a DOCTYPE hides in a flat-looking message, then it is refused before any reader runs', () => {
    expect(() => parseWechatXml('<xml><A><![CDATA[<!DOCTYPE x>]]></A></xml>')).toThrow('DOCTYPE');
  });
});
