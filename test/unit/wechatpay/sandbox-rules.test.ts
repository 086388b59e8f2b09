import { checkNotifyUrl, checkRepeatPrepay, isPrivateHost, type JsapiPrepayRequest, PayRefusal } from '../../../src/providers/wechatpay/sandbox-rules';
import { type SandboxTransaction } from '../../../src/providers/wechatpay/sandbox-state';

/** The sandbox's documented rules as pure functions (the HTTP behaviour is in test/integration/wechatpay-sandbox-rules.test.ts). */
const refusalOf = (fn: () => unknown): PayRefusal | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof PayRefusal) return err;
    throw err;
  }
  return undefined;
};

describe('sandbox WeChat Pay rules', () => {
  // notify_url: "公网域名必须为HTTPS，如果是走专线接入，使用专线NAT IP或者私有回调域名可使用HTTP"
  it.each([
    ['localhost', true], ['app.localhost', true], ['127.0.0.1', true], ['127.8.9.10', true], ['10.1.2.3', true], ['172.16.0.1', true],
    ['172.31.255.255', true], ['192.168.1.20', true], ['[::1]', true], ['[fd00::1]', true],
    ['172.32.0.1', false], ['8.8.8.8', false], ['pay.example.com', false], ['localhost.example.com', false], ['[2001:db8::1]', false],
  ])('When the notify host is %s, then plain http is allowed: %s', (host, allowed) => {
    expect(isPrivateHost(host)).toBe(allowed);
    expect(refusalOf(() => checkNotifyUrl(`http://${host}/pay/wechat/notify`))?.code).toBe(allowed ? undefined : 'PARAM_ERROR');
  });

  it('When notify_url carries a query string or a fragment, then it is refused even on https', () => {
    expect(refusalOf(() => checkNotifyUrl('https://pay.example.com/notify?x=1'))?.code).toBe('PARAM_ERROR');
    expect(refusalOf(() => checkNotifyUrl('https://pay.example.com/notify#x'))?.code).toBe('PARAM_ERROR');
    expect(refusalOf(() => checkNotifyUrl('https://pay.example.com/notify'))).toBeUndefined();
  });

  // "time_expire 参数仅在用户首次下单时可设置，且不允许后续修改，尝试修改将导致错误"
  it('When a repeat prepay changes time_expire, then 403 OUT_TRADE_NO_USED; the same parameters pass; a closed or paid order is refused first', () => {
    const now = Date.UTC(2026, 11, 3, 2);
    const req: JsapiPrepayRequest = { outTradeNo: 'R20261203ABCDEFGHJKLMNPQR', description: '数字证书续期 1 张', totalFen: 20000, openid: 'o1', notifyUrl: 'https://x.example/n', timeExpireSentMs: now + 3_600_000, expiresAtMs: now + 3_600_000 };
    const tx: SandboxTransaction = { appid: 'wx1', mchid: '1', outTradeNo: req.outTradeNo, description: req.description, notifyUrl: req.notifyUrl, totalFen: 20000, openid: 'o1', expiresAtMs: req.expiresAtMs, timeExpireSentMs: req.timeExpireSentMs, state: 'NOTPAY', refundedFen: 0 };
    expect(refusalOf(() => checkRepeatPrepay(tx, req, now))).toBeUndefined();
    expect(refusalOf(() => checkRepeatPrepay(tx, { ...req, timeExpireSentMs: now + 7_200_000 }, now))).toMatchObject({ status: 403, code: 'OUT_TRADE_NO_USED' });
    expect(refusalOf(() => checkRepeatPrepay(tx, { ...req, attach: 'x' }, now))).toMatchObject({ status: 403, code: 'OUT_TRADE_NO_USED' });
    expect(refusalOf(() => checkRepeatPrepay({ ...tx, state: 'CLOSED' }, req, now))).toMatchObject({ status: 400, code: 'ORDER_CLOSED' });
    expect(refusalOf(() => checkRepeatPrepay({ ...tx, state: 'SUCCESS' }, req, now))).toMatchObject({ code: 'ORDERPAID' });
    expect(refusalOf(() => checkRepeatPrepay(tx, req, now + 3_600_000))).toMatchObject({ status: 400, code: 'ORDER_CLOSED' });
  });
});
