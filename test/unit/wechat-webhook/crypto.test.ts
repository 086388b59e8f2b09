import { MessageCryptoError, sha1Signature, signaturesEqual, WechatMessageCrypto } from '../../../src/modules/wechat-webhook/crypto';

// Tencent's published WXBizMsgCrypt samples (the 公众平台 C#/Python samples and the Java SDK's unit test).
const TENCENT_CSHARP = {
  token: 'QDG6eK',
  appId: 'wx5823bf96d3bd56c7',
  key: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  msgSignature: '477715d11cdb4164915debcba66cb864d751f3e6',
  timestamp: '1409659813',
  nonce: '1372623149',
  encrypt:
    'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==',
};
const TENCENT_PYTHON = {
  token: 'spamtest',
  appId: 'wx2c2769f8efd9abc2',
  key: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
  timestamp: '1409735669',
  nonce: '1320562132',
  encrypt:
    'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
};

describe('WXBizMsgCrypt against Tencent sample vectors', () => {
  it.each([TENCENT_CSHARP, TENCENT_PYTHON])('When the sample ($appId) is signed, then the msg_signature matches the published one', (v) => {
    const crypto = new WechatMessageCrypto(v.token, v.key, v.appId);
    expect(crypto.signature(v.timestamp, v.nonce, v.encrypt)).toBe(v.msgSignature);
  });

  it('When the C# sample is decrypted, then it yields the text message and the sample appid', () => {
    const v = TENCENT_CSHARP;
    const { message, appId } = new WechatMessageCrypto(v.token, v.key, v.appId).decrypt(v.encrypt);
    expect(appId).toBe('wx5823bf96d3bd56c7');
    expect(message).toContain('<Content><![CDATA[hello]]></Content>');
    expect(message).toContain('<MsgId>4561255354251345929</MsgId>');
  });

  it('When the Python sample is decrypted, then it yields the sender and content', () => {
    const v = TENCENT_PYTHON;
    const { message, appId } = new WechatMessageCrypto(v.token, v.key, v.appId).decrypt(v.encrypt);
    expect(appId).toBe(v.appId);
    expect(message).toContain('<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>');
    expect(message).toContain('<Content><![CDATA[abcdteT]]></Content>');
  });

  it('When the Java SDK test input is encrypted with its fixed random, then the ciphertext is byte-identical', () => {
    const crypto = new WechatMessageCrypto('pamtest', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 'wxb11529c136998cb6');
    expect(crypto.encrypt('我是中文abcd123', Buffer.from('aaaabbbbccccdddd'))).toBe(
      'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==',
    );
  });

  it('When a message is encrypted and decrypted, then multi-byte text survives', () => {
    const crypto = new WechatMessageCrypto('tok', TENCENT_PYTHON.key, 'wx1234567890abcdef');
    const text = '<xml><Content><![CDATA[𠀀 数安CA管家 ]]]]><![CDATA[>]]></Content></xml>';
    expect(crypto.decrypt(crypto.encrypt(text))).toEqual({ message: text, appId: 'wx1234567890abcdef' });
  });

  it('When the ciphertext is not a whole number of blocks, then decryption is refused', () => {
    const crypto = new WechatMessageCrypto('tok', TENCENT_PYTHON.key, 'wx1234567890abcdef');
    expect(() => crypto.decrypt(Buffer.alloc(20).toString('base64'))).toThrow(MessageCryptoError);
  });

  it('When the key is wrong, then decryption fails on padding or length instead of returning garbage', () => {
    const right = new WechatMessageCrypto('tok', TENCENT_PYTHON.key, 'wx1234567890abcdef');
    const wrong = new WechatMessageCrypto('tok', TENCENT_CSHARP.key, 'wx1234567890abcdef');
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      try {
        const out = wrong.decrypt(right.encrypt(`<xml><a>${i}</a></xml>`));
        if (out.appId !== 'wx1234567890abcdef') failures++;
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(20);
  });

  it('When the EncodingAESKey is not 43 characters, then construction fails', () => {
    expect(() => new WechatMessageCrypto('tok', 'short', 'wx1')).toThrow(MessageCryptoError);
  });
});

describe('signatures', () => {
  it('When parts are given in any order, then the signature sorts them as WeChat does', () => {
    expect(sha1Signature('b', 'a', 'c')).toBe(sha1Signature('c', 'b', 'a'));
  });

  it('When a signature differs, has another length or is missing, then it is not equal', () => {
    const sig = sha1Signature('t', '1', '2');
    expect(signaturesEqual(sig, sig)).toBe(true);
    expect(signaturesEqual(sig, sig.toUpperCase())).toBe(true);
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    expect(signaturesEqual(sig, flipped)).toBe(false);
    expect(signaturesEqual(sig, sig.slice(1))).toBe(false);
    expect(signaturesEqual(sig, undefined)).toBe(false);
  });
});
