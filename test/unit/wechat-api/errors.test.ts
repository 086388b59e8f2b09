import { UpstreamError } from '../../../src/lib/errors';
import { scrub, TRANSPORT_ERRCODE, WechatApiError } from '../../../src/providers/wechat-api/errors';

describe('WechatApiError', () => {
  test('When WeChat refuses a call, then the error keeps errcode, errmsg and api and is an UpstreamError', () => {
    const err = new WechatApiError('cgi-bin/user/info', 45009, 'reach max api daily quota limit');
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status: 502, upstreamCode: 45009, errcode: 45009, api: 'cgi-bin/user/info', retryable: false, isTokenError: false });
    expect(err.message).toBe('wechat cgi-bin/user/info: errcode 45009 reach max api daily quota limit');
  });

  test.each([
    [45009, '微信接口今日调用次数已达上限，请明天再试', false],
    [45011, '操作过于频繁，请稍后再试', true],
    [43004, '您尚未关注公众号，请先关注「GDCA 数安时代」', false],
    [45015, '超过回复时限，请重新发送消息后再试', false],
    [45047, '消息发送过多，请稍后再试', false],
    [40163, '授权已失效，请重新进入页面', false],
    [40029, '授权无效或已过期，请重新进入页面', false],
    [-1, '微信接口暂时不可用，请稍后再试', true],
    [TRANSPORT_ERRCODE, '微信接口暂时不可用，请稍后再试', true],
  ])('When the errcode is %i, then the user reads "%s" (retryable: %s)', (errcode, message, retryable) => {
    const err = new WechatApiError('x', errcode, 'm');
    expect(err.userMessage).toBe(message);
    expect(err.retryable).toBe(retryable);
  });

  test('When the errcode says the token is bad, then isTokenError is true', () => {
    expect([40001, 40014, 42001].map((c) => new WechatApiError('x', c, '').isTokenError)).toEqual([true, true, true]);
  });
});

describe('scrub', () => {
  test('When a secret appears in a text, then every occurrence is replaced; short or missing values are ignored', () => {
    expect(scrub('token ABCDEFGH and ABCDEFGH again', ['ABCDEFGH', undefined, 'ab'])).toBe('token [redacted] and [redacted] again');
  });
});
