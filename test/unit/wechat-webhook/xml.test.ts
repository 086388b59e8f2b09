import { cdata, parseWechatXml, textReplyXml, XmlRefusedError } from '../../../src/modules/wechat-webhook/xml';

describe('WeChat XML', () => {
  it('When a MsgId exceeds 2^53, then it is kept exactly as a string', () => {
    const msg = parseWechatXml('<xml><MsgId>24683756234500195329</MsgId></xml>');
    expect(msg.MsgId).toBe('24683756234500195329');
  });

  it('When reply text contains "]]>", then the CDATA section is split and the text round-trips', () => {
    const content = 'a]]><script>x</script>b';
    const xml = textReplyXml('oUser', 'gh_x', content, 1_700_000_000);
    expect(xml).not.toContain(`[CDATA[${content}]]>`);
    expect(parseWechatXml(xml).Content).toBe(content);
  });

  it('When the reply is built, then CreateTime is in seconds', () => {
    expect(textReplyXml('o', 'g', 'hi', 1_700_000_000)).toContain('<CreateTime>1700000000</CreateTime>');
  });

  it('When the XML is malformed, has no <xml> root or declares entities, then it is refused', () => {
    expect(() => parseWechatXml('<xml><a>1</b></xml>')).toThrow(XmlRefusedError);
    expect(() => parseWechatXml('<root><a>1</a></root>')).toThrow(XmlRefusedError);
    expect(() => parseWechatXml('<!doctype xml><xml/>')).toThrow(XmlRefusedError);
    expect(() => parseWechatXml('<xml><!ENTITY a "b"></xml>')).toThrow(XmlRefusedError);
  });

  it('When cdata wraps plain text, then it is a single section', () => {
    expect(cdata('数安')).toBe('<![CDATA[数安]]>');
  });
});
