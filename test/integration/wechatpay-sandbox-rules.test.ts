import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { backend, createTestBackend, type TestBackendHandle } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { cryptoRandom, systemClock } from '../../src/lib/clock';
import { createLogger } from '../../src/lib/logger';
import { loadWechatPayKeys } from '../../src/providers/wechatpay/keys';
import { createWechatPayClient, rfc3339Beijing } from '../../src/providers/wechatpay/real';
import { type SandboxWechatPayState } from '../../src/providers/wechatpay/sandbox-state';
import { buildAuthorization, parseAuthorization, publicKeyOf, rsaVerify, signedMessage } from '../../src/providers/wechatpay/sign';
import { MAX_REFUNDS_PER_ORDER } from '../../src/providers/wechatpay/sandbox-rules';

/**
 * The sandbox WeChat Pay refuses what WeChat Pay documents it refuses, with the same code and HTTP status. Requests
 * are signed here by hand (our client checks its own input before sending, so it could not send these).
 * Docs: JSAPI下单 pay.weixin.qq.com/doc/v3/merchant/4012525167; 商户订单号查询订单 …/4012556352; 关闭订单 …/4012556398
 * (公共错误码: 400 PARAM_ERROR "参数错误", 401 SIGN_ERROR "验证不通过"; 业务错误码: 400 APPID_MCHID_NOT_MATCH "AppID和mch_id不匹配",
 * 400 ORDER_CLOSED "订单已关闭", 403 OUT_TRADE_NO_USED "商户订单号重复", 404 ORDER_NOT_EXIST …); 退款 /v3/refund/domestic/refunds.
 */
let handle: TestBackendHandle;
let app: ListeningInstance;
let sandbox: SandboxWechatPayState;
let base: string;
const NOTIFY = 'http://127.0.0.1:9/pay/wechat/notify'; // loopback, nobody listens: no test traffic leaves the machine
let n = 0;
const no = () => `RULE${Date.now().toString(36)}${(n++).toString().padStart(3, '0')}`;

beforeAll(async () => {
  handle = await createTestBackend();
  app = await startListening(handle);
  sandbox = app.deps.sandboxWechatPay!;
  sandbox.retryScheduleMs = [];
  base = `${app.url}/sandbox/wechatpay`;
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
});

const merchant = () => ({ mchId: app.config.wechatpay.mchId, serialNo: app.config.wechatpay.serialNo, privateKey: loadWechatPayKeys(app.config.wechatpay, Date.now()).merchantPrivateKey });

/** A signed call; `signPath` overrides what is signed (default: the full path + query of the URL called). */
async function call(method: 'GET' | 'POST', path: string, body?: unknown, signPath?: string) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const url = new URL(`${base}${path}`);
  const authorization = buildAuthorization(merchant(), method, signPath ?? `${url.pathname}${url.search}`, text, systemClock, cryptoRandom);
  const res = await fetch(url, { method, headers: { Authorization: authorization, Accept: 'application/json', 'Content-Type': 'application/json' }, body: text || undefined });
  const raw = await res.text();
  return { status: res.status, json: (raw ? JSON.parse(raw) : {}) as Record<string, unknown>, headers: res.headers };
}

const prepayBody = (over: Record<string, unknown> = {}) => ({
  appid: app.config.wechat.appId, mchid: app.config.wechatpay.mchId, description: '数字证书续期 1 张', out_trade_no: no(),
  time_expire: rfc3339Beijing(Date.now() + 30 * 60_000), notify_url: NOTIFY, amount: { total: 20000, currency: 'CNY' }, payer: { openid: 'oRules' }, ...over,
});
const prepay = (over: Record<string, unknown> = {}) => call('POST', '/v3/pay/transactions/jsapi', prepayBody(over));
const refusal = (status: number, code: string) => expect.objectContaining({ status, json: expect.objectContaining({ code }) });

/** A paid transaction (its notify goes to a closed loopback port and is not retried). */
async function paid(totalFen = 20000) {
  const body = prepayBody({ amount: { total: totalFen, currency: 'CNY' } });
  const { json } = await call('POST', '/v3/pay/transactions/jsapi', body);
  const done = sandbox.confirmPayment(String(json.prepay_id));
  if ('error' in done) throw new Error(done.error);
  await done.delivery;
  return body;
}

describe(`sandbox WeChat Pay: request signatures (${backend})`, () => {
  // 签名生成: "URL … 获取请求的绝对URL，并去除域名部分得到参与签名的URL。如果请求中有查询参数，URL末尾应附加有'?'和对应的查询字符串。"
  it('When a request is signed over the full path it was sent to (mount prefix and query included), then it is accepted; signed over the path after the mount, or without the query, then 401 SIGN_ERROR', async () => {
    const q = `/v3/pay/transactions/out-trade-no/NoSuchOrder01?mchid=${app.config.wechatpay.mchId}`;
    expect(await call('GET', q)).toEqual(refusal(404, 'ORDER_NOT_EXIST'));
    expect(await call('GET', q, undefined, q)).toEqual(refusal(401, 'SIGN_ERROR'));
    expect(await call('GET', q, undefined, `/sandbox/wechatpay${q.split('?')[0]}`)).toEqual(refusal(401, 'SIGN_ERROR'));
  });

  it('When our client is pointed at a base URL with a path prefix, then it signs the full path of the URL it calls', async () => {
    const seen: Array<{ url: string; valid: boolean }> = [];
    const publicKey = publicKeyOf(merchant().privateKey);
    const server = createServer((req, res) => {
      const auth = parseAuthorization(req.headers.authorization);
      const valid = !!auth && rsaVerify(publicKey, signedMessage(req.method!, req.url!, auth.timestamp, auth.nonce_str, ''), auth.signature);
      seen.push({ url: req.url!, valid });
      res.writeHead(valid ? 404 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(valid ? { code: 'ORDER_NOT_EXIST', message: '订单不存在' } : { code: 'SIGN_ERROR', message: '错误的签名，验签失败' }));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const client = createWechatPayClient({
        config: { ...app.config.wechatpay, apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}/gateway/wxpay`, apiBackupBase: null },
        keys: loadWechatPayKeys(app.config.wechatpay, Date.now()), clock: systemClock, random: cryptoRandom, logger: createLogger('silent'),
      });
      expect(await client.queryByOutTradeNo('NoSuchOrder01')).toBeUndefined();
      expect(seen).toEqual([{ url: `/gateway/wxpay/v3/pay/transactions/out-trade-no/NoSuchOrder01?mchid=${app.config.wechatpay.mchId}`, valid: true }]);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });
});

describe(`sandbox WeChat Pay: JSAPI下单 field rules (${backend})`, () => {
  // out_trade_no string(32): "要求6-32个字符内，只能是数字、大小写字母_-|* 且在同一个商户号下唯一。"
  it.each([['5 characters', 'AB123'], ['33 characters', 'A'.repeat(33)], ['a character outside _-|*', 'ABC123#']])('When out_trade_no has %s, then 400 PARAM_ERROR', async (_what, value) => {
    expect(await prepay({ out_trade_no: value })).toEqual(refusal(400, 'PARAM_ERROR'));
  });
  it('When out_trade_no is 6 characters using | and *, then it is accepted', async () => {
    expect((await prepay({ out_trade_no: `A|*${(n++ % 1000).toString().padStart(3, '0')}` })).status).toBe(200);
  });

  // description string(127): "不能超过127个字符。" (必填)
  it('When description is empty or 128 characters, then 400 PARAM_ERROR; 127 Chinese characters are accepted', async () => {
    expect(await prepay({ description: '' })).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await prepay({ description: '证'.repeat(128) })).toEqual(refusal(400, 'PARAM_ERROR'));
    expect((await prepay({ description: '证'.repeat(127) })).status).toBe(200);
  });

  // amount.total int 【总金额】"订单总金额，单位为分"; amount.currency "CNY：人民币，境内商户号仅支持人民币。"
  it.each([['0', 0], ['a fraction of a fen', 1.5], ['a string', '100'], ['negative', -1]])('When amount.total is %s, then 400 PARAM_ERROR', async (_what, total) => {
    expect(await prepay({ amount: { total, currency: 'CNY' } })).toEqual(refusal(400, 'PARAM_ERROR'));
  });
  it('When amount.currency is not CNY, then 400 PARAM_ERROR', async () => {
    expect(await prepay({ amount: { total: 100, currency: 'USD' } })).toEqual(refusal(400, 'PARAM_ERROR'));
  });

  // notify_url string(255): "通知URL必须为外网可访问的URL，不能携带参数。公网域名必须为HTTPS，如果是走专线接入，使用专线NAT IP或者私有回调
  // 域名可使用HTTP" — the sandbox allows http only for localhost, loopback and private IPs (local development).
  it.each([
    ['http on a public host', 'http://pay.example.com/pay/wechat/notify'],
    ['a query string', 'https://pay.example.com/pay/wechat/notify?order=1'],
    ['more than 255 characters', `https://pay.example.com/${'n'.repeat(240)}`],
    ['no URL at all', 'notify'],
  ])('When notify_url has %s, then 400 PARAM_ERROR', async (_what, url) => {
    expect(await prepay({ notify_url: url })).toEqual(refusal(400, 'PARAM_ERROR'));
  });
  it.each([['https', 'https://pay.example.com/pay/wechat/notify'], ['http on localhost', 'http://localhost:3000/pay/wechat/notify'], ['http on loopback', 'http://127.0.0.1:3000/pay/wechat/notify'], ['http on a private IP', 'http://192.168.1.20:3000/pay/wechat/notify']])('When notify_url is %s, then it is accepted', async (_what, url) => {
    expect((await prepay({ notify_url: url })).status).toBe(200);
  });

  // appid: "需确保该appid与mchid有绑定关系" → 400 APPID_MCHID_NOT_MATCH; mchid must be the signing merchant.
  it('When appid is not bound to the merchant, then 400 APPID_MCHID_NOT_MATCH; when mchid is not the signer, then 400 PARAM_ERROR', async () => {
    expect(await prepay({ appid: 'wx0000000000000000' })).toEqual(refusal(400, 'APPID_MCHID_NOT_MATCH'));
    expect(await prepay({ mchid: '1900000109' })).toEqual(refusal(400, 'PARAM_ERROR'));
  });

  // time_expire: "支付结束时间不能早于下单时间后1分钟，若设置的支付结束时间早于该时间，系统将自动调整为下单时间后1分钟" and
  // "需在下单时间的90天以内，如超过90天，微信支付会自动将该时间调整为下单时间后的第90天" — adjusted, not refused.
  it('When time_expire is under a minute or over 90 days ahead, then WeChat Pay adjusts it; when it is not RFC 3339, then 400 PARAM_ERROR', async () => {
    const soon = prepayBody({ time_expire: rfc3339Beijing(Date.now() + 5_000) });
    const t0 = Date.now();
    expect((await call('POST', '/v3/pay/transactions/jsapi', soon)).status).toBe(200);
    expect(sandbox.transactions.get(soon.out_trade_no)!.expiresAtMs).toBeGreaterThanOrEqual(t0 + 60_000);
    const far = prepayBody({ time_expire: rfc3339Beijing(Date.now() + 200 * 86_400_000) });
    expect((await call('POST', '/v3/pay/transactions/jsapi', far)).status).toBe(200);
    expect(sandbox.transactions.get(far.out_trade_no)!.expiresAtMs).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    expect(await prepay({ time_expire: '20261203101010' })).toEqual(refusal(400, 'PARAM_ERROR'));
  });

  // "time_expire 参数仅在用户首次下单时可设置，且不允许后续修改，尝试修改将导致错误。… 若未超过支付结束时间，则可使用原参数重新请求
  // 下单接口，以获取当前订单最新的prepay_id" — same out_trade_no, other parameters: 403 OUT_TRADE_NO_USED "商户订单号重复".
  it('When the same out_trade_no comes again, then the same parameters get a new prepay_id and a changed time_expire, description, amount, openid or a dropped time_expire get 403 OUT_TRADE_NO_USED', async () => {
    const body = prepayBody();
    const first = await call('POST', '/v3/pay/transactions/jsapi', body);
    const again = await call('POST', '/v3/pay/transactions/jsapi', body);
    expect(again.status).toBe(200);
    expect(again.json.prepay_id).not.toBe(first.json.prepay_id);
    const expiresAt = sandbox.transactions.get(body.out_trade_no)!.expiresAtMs;
    for (const changed of [
      { time_expire: rfc3339Beijing(Date.now() + 2 * 3_600_000) }, { time_expire: undefined }, { description: '数字证书续期 2 张' },
      { amount: { total: 20001, currency: 'CNY' } }, { payer: { openid: 'oSomeoneElse' } },
    ]) {
      expect(await call('POST', '/v3/pay/transactions/jsapi', { ...body, ...changed })).toEqual(refusal(403, 'OUT_TRADE_NO_USED'));
    }
    expect(sandbox.transactions.get(body.out_trade_no)!.expiresAtMs).toBe(expiresAt);
  });

  // 关闭订单 / 下单 业务错误码: 400 ORDER_CLOSED "当前订单已关闭，请重新下单"; a paid order: ORDERPAID "订单已支付".
  it('When an order was closed, paid, or is past its time_expire, then it cannot be prepaid again (ORDER_CLOSED, ORDERPAID)', async () => {
    const closed = prepayBody();
    await call('POST', '/v3/pay/transactions/jsapi', closed);
    expect((await call('POST', `/v3/pay/transactions/out-trade-no/${closed.out_trade_no}/close`, { mchid: app.config.wechatpay.mchId })).status).toBe(204);
    expect(await call('POST', '/v3/pay/transactions/jsapi', closed)).toEqual(refusal(400, 'ORDER_CLOSED'));
    const done = await paid();
    expect(await call('POST', '/v3/pay/transactions/jsapi', done)).toEqual(refusal(400, 'ORDERPAID'));
    // "若用户实际进行支付的时间超过了订单设置的支付结束时间，商户需使用新的商户订单号下单"
    const late = prepayBody();
    await call('POST', '/v3/pay/transactions/jsapi', late);
    sandbox.transactions.get(late.out_trade_no)!.expiresAtMs = Date.now() - 1;
    expect(await call('POST', '/v3/pay/transactions/jsapi', late)).toEqual(refusal(400, 'ORDER_CLOSED'));
  });
});

describe(`sandbox WeChat Pay: query, close, refund rules (${backend})`, () => {
  const mchid = () => app.config.wechatpay.mchId;
  // 商户订单号查询订单: query mchid 必填; unknown order 404 ORDER_NOT_EXIST.
  it('When an order is queried without mchid, with a malformed out_trade_no, or unknown, then 400 PARAM_ERROR, 400 PARAM_ERROR, 404 ORDER_NOT_EXIST', async () => {
    expect(await call('GET', '/v3/pay/transactions/out-trade-no/NoSuchOrder01')).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await call('GET', `/v3/pay/transactions/out-trade-no/AB1?mchid=${mchid()}`)).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await call('GET', `/v3/pay/transactions/out-trade-no/NoSuchOrder01?mchid=${mchid()}`)).toEqual(refusal(404, 'ORDER_NOT_EXIST'));
  });

  // 关闭订单: body mchid 必填 → 204 No Content; unknown order 404 ORDER_NOT_EXIST.
  it('When an unknown order is closed, or with another mchid, then 404 ORDER_NOT_EXIST and 400 PARAM_ERROR', async () => {
    expect(await call('POST', '/v3/pay/transactions/out-trade-no/NoSuchOrder01/close', { mchid: mchid() })).toEqual(refusal(404, 'ORDER_NOT_EXIST'));
    const body = prepayBody();
    await call('POST', '/v3/pay/transactions/jsapi', body);
    expect(await call('POST', `/v3/pay/transactions/out-trade-no/${body.out_trade_no}/close`, { mchid: '1900000109' })).toEqual(refusal(400, 'PARAM_ERROR'));
  });

  const refund = (outTradeNo: string, refundFen: number, totalFen = 20000, outRefundNo = `RF${no()}`) => call('POST', '/v3/refund/domestic/refunds', {
    out_trade_no: outTradeNo, out_refund_no: outRefundNo, notify_url: NOTIFY, amount: { refund: refundFen, total: totalFen, currency: 'CNY' },
  });

  // 退款: refunds together never exceed what was paid — INVALID_REQUEST "申请退款金额超过订单可退金额".
  it('When refunds of one order together exceed what was paid, then 400 INVALID_REQUEST; amount.total other than the order\'s is 400 PARAM_ERROR', async () => {
    const order = await paid(20000);
    expect((await refund(order.out_trade_no, 15000)).status).toBe(200);
    expect(await refund(order.out_trade_no, 5001)).toEqual(refusal(400, 'INVALID_REQUEST'));
    expect(await refund(order.out_trade_no, 100, 30000)).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await refund(order.out_trade_no, 0)).toEqual(refusal(400, 'PARAM_ERROR'));
    expect((await refund(order.out_trade_no, 5000)).status).toBe(200);
  });

  // "一笔订单最多支持50次部分退款"
  it(`When an order already has ${MAX_REFUNDS_PER_ORDER} refunds, then another is refused with 400 INVALID_REQUEST`, async () => {
    const order = await paid(MAX_REFUNDS_PER_ORDER + 10);
    for (let i = 0; i < MAX_REFUNDS_PER_ORDER; i++) expect((await refund(order.out_trade_no, 1, MAX_REFUNDS_PER_ORDER + 10)).status).toBe(200);
    expect(await refund(order.out_trade_no, 1, MAX_REFUNDS_PER_ORDER + 10)).toEqual(refusal(400, 'INVALID_REQUEST'));
  });

  it('When an unknown or unpaid order is refunded, or an out_refund_no is malformed, then 404 RESOURCE_NOT_EXISTS, 400 INVALID_REQUEST, 400 PARAM_ERROR; a refund query follows the same number rules', async () => {
    expect(await refund('NoSuchOrder01', 1)).toEqual(refusal(404, 'RESOURCE_NOT_EXISTS'));
    const unpaid = prepayBody();
    await call('POST', '/v3/pay/transactions/jsapi', unpaid);
    expect(await refund(unpaid.out_trade_no, 1)).toEqual(refusal(400, 'INVALID_REQUEST'));
    expect(await refund(unpaid.out_trade_no, 1, 20000, 'RF#1')).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await call('GET', '/v3/refund/domestic/refunds/RF%231')).toEqual(refusal(400, 'PARAM_ERROR'));
    expect(await call('GET', '/v3/refund/domestic/refunds/RF-unknown-1')).toEqual(refusal(404, 'RESOURCE_NOT_EXISTS'));
  });
});
