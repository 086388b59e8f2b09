import { parseWechatJson } from '../../../src/providers/wechat-api/http';

describe('parseWechatJson', () => {
  test('When a msgid exceeds 2^53, then it comes back as the exact digits', () => {
    expect(parseWechatJson('{"errcode":0,"errmsg":"ok","msgid":3147483649123456789}')).toEqual({ errcode: 0, errmsg: 'ok', msgid: '3147483649123456789' });
  });

  test('When integers are small, then they stay numbers (errcode, expires_in)', () => {
    expect(parseWechatJson('{"errcode":45009,"expires_in":7200,"neg":-12}')).toEqual({ errcode: 45009, expires_in: 7200, neg: -12 });
  });

  test('When digits sit inside strings, then they are left alone, escapes included', () => {
    const text = '{"errmsg":"rid: 9007199254740993123 \\"msgid\\":12345678901234567890","n":[1,98765432109876543210]}';
    expect(parseWechatJson(text)).toEqual({ errmsg: 'rid: 9007199254740993123 "msgid":12345678901234567890', n: [1, '98765432109876543210'] });
  });

  test('When numbers have fractions or exponents, then they parse as JSON numbers', () => {
    expect(parseWechatJson('{"a":1.5,"b":12345678901234567890.5,"c":1e3}')).toEqual({ a: 1.5, b: 12345678901234567890.5, c: 1000 });
  });

  test('When the text is not JSON, then it throws', () => {
    expect(() => parseWechatJson('<html>bad gateway</html>')).toThrow();
  });
});
