import { nuonuoSignedString, signNuonuo, verifyNuonuoSign } from '../../../src/providers/einvoice/nuonuo-sign';

/**
 * No signed example is published by the vendor that we could find, so the vector was computed outside this code
 * base (Python's hmac/hashlib/base64, following the vendor PHP SDK's MakeSign string) and pasted here: two
 * implementations, one answer. The body holds Chinese so the UTF-8 encoding is covered.
 */
const VECTOR = {
  path: '/open/v1/services',
  appKey: 'SD63236305',
  appSecret: 'SDDED2523BED4643',
  senid: '0d5f2f1b9c6e4e7fa4b8c3d2e1f0a9b8',
  nonce: '12345678',
  timestamp: '1733200000',
  body: '{"order":{"buyerName":"浙江诺诺网络科技有限公司","orderNo":"20170105120207971532"}}',
};
const EXPECTED = 'wWoeWaP9dUUZoHMpPObX7eouZ5M=';

describe('X-Nuonuo-Sign', () => {
  it('When the path is /open/v1/services, then the signed string reads a=services&l=v1&p=open then k, i, n, t and the raw body', () => {
    expect(nuonuoSignedString(VECTOR)).toBe(
      'a=services&l=v1&p=open&k=SD63236305&i=0d5f2f1b9c6e4e7fa4b8c3d2e1f0a9b8&n=12345678&t=1733200000&f={"order":{"buyerName":"浙江诺诺网络科技有限公司","orderNo":"20170105120207971532"}}',
    );
  });

  it('When the vector is signed, then the signature is the independently computed base64 HMAC-SHA1', () => {
    expect(signNuonuo(VECTOR)).toBe(EXPECTED);
    expect(verifyNuonuoSign(VECTOR, EXPECTED)).toBe(true);
  });

  it.each([
    ['body', { body: VECTOR.body.replace('诺诺', '喏喏') }],
    ['nonce', { nonce: '12345679' }],
    ['timestamp', { timestamp: '1733200001' }],
    ['secret', { appSecret: 'SDDED2523BED4644' }],
    ['path', { path: '/open/v2/services' }],
  ])('When the %s differs, then the signature no longer verifies', (_name, change) => {
    expect(verifyNuonuoSign({ ...VECTOR, ...change }, EXPECTED)).toBe(false);
  });

  it('When the signature has another length, then it is refused without throwing', () => {
    expect(verifyNuonuoSign(VECTOR, 'short')).toBe(false);
  });

  it('When the path is not three segments deep, then signing refuses it', () => {
    expect(() => signNuonuo({ ...VECTOR, path: '/services' })).toThrow(RangeError);
  });
});
