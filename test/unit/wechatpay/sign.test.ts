import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { cryptoRandom } from '../../../src/lib/clock';
import {
  aesGcmDecrypt, aesGcmEncrypt, buildAuthorization, parseAuthorization, rsaSign, rsaVerify, signedMessage, signJsapiPayParams, WechatPayKeyRing,
} from '../../../src/providers/wechatpay/sign';
import { rfc3339Beijing } from '../../../src/providers/wechatpay/real';
import { DOC_PAY_SIGN, DOC_REQUEST_SIGN, DOC_TEST_PRIVATE_KEY_PEM, JAVA_AES_GCM, WECHATPAY_RESPONSE_SIGN } from './vectors';

const docKey = createPrivateKey(DOC_TEST_PRIVATE_KEY_PEM);

describe('WeChat Pay signing primitives', () => {
  it('When the docs\' JSAPI example is signed with the docs\' test key, then paySign equals the published value', () => {
    const p = signJsapiPayParams(docKey, DOC_PAY_SIGN.appId, DOC_PAY_SIGN.prepayId, DOC_PAY_SIGN.timeStamp, DOC_PAY_SIGN.nonceStr);
    expect(p).toEqual({
      appId: DOC_PAY_SIGN.appId, timeStamp: DOC_PAY_SIGN.timeStamp, nonceStr: DOC_PAY_SIGN.nonceStr,
      package: `prepay_id=${DOC_PAY_SIGN.prepayId}`, signType: 'RSA', paySign: DOC_PAY_SIGN.paySign,
    });
  });

  it('When the docs\' jsapi request is signed, then the signature equals the published value', () => {
    const v = DOC_REQUEST_SIGN;
    expect(rsaSign(docKey, signedMessage(v.method, v.path, v.timestamp, v.nonce, v.body))).toBe(v.signature);
  });

  it('When a real WeChat Pay response signature is checked with its public key, then it verifies, and one changed byte does not', () => {
    const v = WECHATPAY_RESPONSE_SIGN;
    const key = createPublicKey(v.publicKeyPem);
    expect(rsaVerify(key, signedMessage(v.timestamp, v.nonce, v.body), v.signature)).toBe(true);
    expect(rsaVerify(key, signedMessage(v.timestamp, v.nonce, v.body.replace('1', '2')), v.signature)).toBe(false);
    expect(rsaVerify(key, signedMessage(v.timestamp, v.nonce, v.body), 'not base64 at all')).toBe(false);
  });

  it('When the Java SDK\'s AES-GCM vector is decrypted, then the plaintext comes back; a wrong key, AAD or tag throws', () => {
    const v = JAVA_AES_GCM;
    expect(aesGcmDecrypt(v.key, v.nonce, v.aad, v.ciphertext)).toBe(v.plaintext);
    expect(aesGcmEncrypt(v.key, v.nonce, v.aad, v.plaintext)).toBe(v.ciphertext);
    expect(() => aesGcmDecrypt(v.key.replace('a', 'b'), v.nonce, v.aad, v.ciphertext)).toThrow();
    expect(() => aesGcmDecrypt(v.key, v.nonce, 'transaction', v.ciphertext)).toThrow();
    const raw = Buffer.from(v.ciphertext, 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => aesGcmDecrypt(v.key, v.nonce, v.aad, raw.toString('base64'))).toThrow();
    expect(() => aesGcmDecrypt('short', v.nonce, v.aad, v.ciphertext)).toThrow(/32 bytes/);
  });

  it('When an Authorization header is built, then it parses back and its signature covers method, path, time, nonce and body', () => {
    const header = buildAuthorization({ mchId: '1900007291', serialNo: 'ABC123', privateKey: docKey }, 'post', '/v3/x?y=1', '{"a":1}', { nowMs: () => 1_700_000_000_000 }, cryptoRandom);
    const parsed = parseAuthorization(header)!;
    expect(parsed).toMatchObject({ mchid: '1900007291', serial_no: 'ABC123', timestamp: '1700000000' });
    expect(parsed.nonce_str).toMatch(/^[A-Za-z0-9]{32}$/);
    const pub = createPublicKey(docKey);
    expect(rsaVerify(pub, signedMessage('POST', '/v3/x?y=1', parsed.timestamp, parsed.nonce_str, '{"a":1}'), parsed.signature)).toBe(true);
    expect(parseAuthorization('Bearer x')).toBeUndefined();
  });

  it('When two requests are signed, then their nonces differ (crypto-random)', () => {
    const a = buildAuthorization({ mchId: '1', serialNo: 'A', privateKey: docKey }, 'GET', '/', '', { nowMs: () => 0 }, cryptoRandom);
    const b = buildAuthorization({ mchId: '1', serialNo: 'A', privateKey: docKey }, 'GET', '/', '', { nowMs: () => 0 }, cryptoRandom);
    expect(parseAuthorization(a)!.nonce_str).not.toBe(parseAuthorization(b)!.nonce_str);
  });

  it('When keys are looked up by serial, then case and spaces do not matter and unknown serials find nothing', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ring = new WechatPayKeyRing().add('PUB_KEY_ID_0114', publicKey).add('5dea10ef', publicKey);
    expect(ring.get('pub_key_id_0114 ')).toBe(publicKey);
    expect(ring.get('5DEA10EF')).toBe(publicKey);
    expect(ring.get('OTHER')).toBeUndefined();
    expect(ring.get(undefined)).toBeUndefined();
  });

  it('When a time is written for WeChat Pay, then it is RFC 3339 in Beijing time', () => {
    expect(rfc3339Beijing(Date.UTC(2026, 10, 25, 16, 30, 5))).toBe('2026-11-26T00:30:05+08:00');
  });
});
