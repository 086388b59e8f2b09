import { jsSdkConfig, jsSdkSignature, signableUrl } from '../../../src/providers/wechat-api/js-sdk';

/** 附录1 JS-SDK使用权限签名算法: WeChat's own worked examples (公众号 and 企业微信 documents, same ticket and nonce). */
const DOC_TICKET = 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg';

describe('JS-SDK signature', () => {
  test.each([
    ['http://mp.weixin.qq.com', 'f4d90daf4b3bca3078ab155816175ba34c443a7b'],
    ['http://mp.weixin.qq.com?params=value', '0f9de62fce790f9a083d5c99e95740ceb90c27ed'],
  ])('When the documented example signs %s, then the signature is %s', (url, expected) => {
    expect(jsSdkSignature({ jsapiTicket: DOC_TICKET, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457, url })).toBe(expected);
  });

  test('When the page address has a fragment, then it is signed without it (WeChat drops it too)', () => {
    const base = { jsapiTicket: DOC_TICKET, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457 };
    expect(jsSdkSignature({ ...base, url: 'http://mp.weixin.qq.com?params=value#/tab' })).toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
    expect(signableUrl('https://a.example/h5/invoices?tab=history#top')).toBe('https://a.example/h5/invoices?tab=history');
  });

  test('When the query differs by one character, then the signature differs', () => {
    const base = { jsapiTicket: DOC_TICKET, nonceStr: 'Wm3WZYTPz0wzccnW', timestamp: 1414587457 };
    expect(jsSdkSignature({ ...base, url: 'http://mp.weixin.qq.com?params=valuf' })).not.toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
  });

  test('When a page config is made, then it carries a 16-character nonce, the second-resolution timestamp and a signature over them', () => {
    const random = { bytes: (n: number) => Buffer.alloc(n, 7), int: (max: number) => 5 % max };
    const config = jsSdkConfig({ appId: 'wx123', jsapiTicket: DOC_TICKET, url: 'https://a.example/h5/invoices', nowMs: 1414587457_999, random });
    expect(config).toMatchObject({ appId: 'wx123', timestamp: 1414587457 });
    expect(config.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(config.signature).toBe(jsSdkSignature({ jsapiTicket: DOC_TICKET, nonceStr: config.nonceStr, timestamp: 1414587457, url: 'https://a.example/h5/invoices' }));
  });
});
