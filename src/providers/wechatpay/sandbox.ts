import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { type Logger } from '../../lib/logger';
import { type RenderPage } from '../../lib/views';
import { rfc3339Beijing } from './real';
import { type SandboxWechatPayState } from './sandbox-state';
import { MAX_SKEW_SECONDS, parseAuthorization, rsaVerify, signedMessage } from './sign';

/**
 * The sandbox WeChat Pay: the APIv3 endpoints the client uses (jsapi prepay, query, close, refund, platform certificates) with WeChat
 * Pay's JSON shapes, HTTP statuses and error codes; requests must carry a valid merchant signature (else 401
 * SIGN_ERROR) and every answer is signed with the sandbox's own key. Plus the cashier page the H5 page opens
 * instead of WeixinJSBridge. Mounted at /sandbox/wechatpay in sandbox mode only.
 */
export const SANDBOX_WECHATPAY_PATH = '/sandbox/wechatpay';

type Json = Record<string, unknown>;
class PayRefusal {
  constructor(readonly status: number, readonly code: string, readonly message: string) {}
}
const refuse = (status: number, code: string, message: string): never => {
  throw new PayRefusal(status, code, message);
};
const isObj = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const OUT_TRADE_NO_WECHAT = /^[0-9A-Za-z_\-|*]{6,32}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;

export const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

export interface SandboxWechatPayAppOptions {
  logger: Logger;
  render: RenderPage;
  /** return_url must be under it (the cashier never redirects elsewhere). */
  publicBaseUrl: string;
}

export function createSandboxWechatPayApp(state: SandboxWechatPayState, opts: SandboxWechatPayAppOptions): Koa {
  const app = new Koa();
  const router = new Router();
  const { id } = state;

  type Answer = { status: number; json?: Json };
  function api(method: 'get' | 'post', path: string, handler: (ctx: Koa.Context, body: Json) => Answer | Promise<Answer>) {
    router[method](path, async (ctx) => {
      let status: number;
      let text = '';
      try {
        const raw = method === 'post' ? await getRawBody(ctx.req, { limit: '64kb', encoding: 'utf-8' }).catch(() => refuse(400, 'PARAM_ERROR', '请求体过大或无法读取')) : '';
        const auth = parseAuthorization(ctx.get('authorization'));
        if (!auth) refuse(401, 'SIGN_ERROR', 'Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》');
        if (auth!.mchid !== id.mchId || auth!.serial_no.toUpperCase() !== id.merchantSerialNo.toUpperCase()) refuse(401, 'SIGN_ERROR', '商户证书序列号有误或商户号不存在');
        if (Math.abs(Math.floor(state.nowMs() / 1000) - Number(auth!.timestamp)) > MAX_SKEW_SECONDS) refuse(401, 'SIGN_ERROR', 'Http头Authorization中的timestamp与发起请求的时间不得超过5分钟');
        const message = signedMessage(ctx.method, ctx.url, auth!.timestamp, auth!.nonce_str, raw);
        if (!rsaVerify(id.merchantPublicKey, message, auth!.signature)) refuse(401, 'SIGN_ERROR', '错误的签名，验签失败');
        let body: Json = {};
        if (raw) {
          try {
            const parsed: unknown = JSON.parse(raw);
            body = isObj(parsed) ? parsed : refuse(400, 'PARAM_ERROR', '请求体不是JSON对象');
          } catch (err) {
            if (err instanceof PayRefusal) throw err;
            refuse(400, 'PARAM_ERROR', '请求体不是合法的JSON');
          }
        }
        const out = await handler(ctx, body);
        status = out.status;
        text = out.json ? JSON.stringify(out.json) : '';
      } catch (err) {
        if (!(err instanceof PayRefusal)) throw err;
        status = err.status;
        text = JSON.stringify({ code: err.code, message: err.message });
        opts.logger.debug({ path: ctx.path, code: err.code }, 'sandbox wechatpay refused a call');
      }
      ctx.set(state.signatureHeaders(text));
      ctx.set('Request-ID', randomBytes(16).toString('hex'));
      if (state.tamperNextResponse) {
        state.tamperNextResponse = false;
        text = text.replace(/\d/, (d) => String((Number(d) + 1) % 10)) || ' ';
      }
      ctx.status = status;
      if (text) {
        ctx.type = 'application/json';
        ctx.body = text;
      } else ctx.body = null;
    });
  }

  const txOf = (no: string) => state.transactions.get(no) ?? refuse(404, 'ORDER_NOT_EXIST', '订单不存在');
  const checkMchid = (v: unknown) => {
    if (v !== id.mchId) refuse(400, 'PARAM_ERROR', 'mchid与请求方商户号不一致');
  };

  api('post', '/v3/pay/transactions/jsapi', (_ctx, b) => {
    if (b.appid !== id.appId) refuse(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
    checkMchid(b.mchid);
    const amount = isObj(b.amount) ? b.amount : refuse(400, 'PARAM_ERROR', '输入源“/body/amount”映射到字段“订单金额”必填性规则校验失败，此字段为必填项');
    const payer = isObj(b.payer) ? b.payer : refuse(400, 'PARAM_ERROR', '输入源“/body/payer”映射到字段“支付者”必填性规则校验失败，此字段为必填项');
    const no = typeof b.out_trade_no === 'string' && OUT_TRADE_NO_WECHAT.test(b.out_trade_no) ? b.out_trade_no : refuse(400, 'PARAM_ERROR', 'out_trade_no格式错误');
    const description = typeof b.description === 'string' && b.description.length >= 1 && b.description.length <= 127 ? b.description : refuse(400, 'PARAM_ERROR', 'description格式错误');
    const total = Number.isSafeInteger(amount.total) && (amount.total as number) >= 1 ? (amount.total as number) : refuse(400, 'PARAM_ERROR', '订单金额必须为大于0的整数（分）');
    if ((amount.currency ?? 'CNY') !== 'CNY') refuse(400, 'PARAM_ERROR', '币种只支持CNY');
    const openid = typeof payer.openid === 'string' && payer.openid ? payer.openid : refuse(400, 'PARAM_ERROR', 'openid格式错误');
    let notifyUrl = '';
    try {
      const u = new URL(String(b.notify_url));
      if (u.search || !/^https?:$/.test(u.protocol)) throw new Error('query');
      notifyUrl = u.toString();
    } catch {
      refuse(400, 'PARAM_ERROR', 'notify_url格式错误（须为不带参数的http(s)地址）');
    }
    let expiresAtMs = state.nowMs() + 7 * 86400_000;
    if (b.time_expire !== undefined) {
      const t = typeof b.time_expire === 'string' && RFC3339.test(b.time_expire) ? Date.parse(b.time_expire) : NaN;
      if (Number.isNaN(t)) refuse(400, 'PARAM_ERROR', 'time_expire时间格式错误');
      if (t < state.nowMs() + 60_000 || t > state.nowMs() + 90 * 86400_000) refuse(400, 'PARAM_ERROR', 'time_expire时间不合法，须在1分钟后且不超过90天');
      expiresAtMs = t;
    }
    const attach = typeof b.attach === 'string' ? b.attach : undefined;
    const fingerprint = JSON.stringify([description, total, openid, attach ?? '', notifyUrl]);
    const existing = state.transactions.get(no);
    if (existing) {
      if (existing.state === 'SUCCESS' || existing.state === 'REFUND') refuse(400, 'ORDERPAID', '该订单已支付');
      if (existing.state === 'CLOSED') refuse(400, 'ORDER_CLOSED', '订单已关闭');
      if (existing.fingerprint !== fingerprint) refuse(403, 'OUT_TRADE_NO_USED', '商户订单号重复');
      existing.expiresAtMs = expiresAtMs;
    } else {
      state.transactions.set(no, { appid: id.appId, mchid: id.mchId, outTradeNo: no, description, attach, notifyUrl, totalFen: total, openid, expiresAtMs, state: 'NOTPAY', refundedFen: 0, fingerprint });
    }
    return { status: 200, json: { prepay_id: state.newPrepayId(no) } };
  });

  api('get', '/v3/pay/transactions/out-trade-no/:no', (ctx) => {
    checkMchid(ctx.query.mchid);
    return { status: 200, json: state.transactionJson(txOf(ctx.params.no)) };
  });

  api('post', '/v3/pay/transactions/out-trade-no/:no/close', (ctx, b) => {
    checkMchid(b.mchid);
    const t = txOf(ctx.params.no);
    if (t.state === 'SUCCESS' || t.state === 'REFUND') refuse(400, 'ORDERPAID', '订单已支付，不能关闭');
    t.state = 'CLOSED';
    return { status: 204 };
  });

  api('post', '/v3/refund/domestic/refunds', (_ctx, b) => {
    const amount = isObj(b.amount) ? b.amount : refuse(400, 'PARAM_ERROR', 'amount必填');
    const outRefundNo = typeof b.out_refund_no === 'string' && /^[0-9A-Za-z_\-|*@]{1,64}$/.test(b.out_refund_no) ? b.out_refund_no : refuse(400, 'PARAM_ERROR', 'out_refund_no格式错误');
    const t = typeof b.out_trade_no === 'string'
      ? state.transactions.get(b.out_trade_no)
      : [...state.transactions.values()].find((x) => x.transactionId && x.transactionId === b.transaction_id);
    if (!t) return refuse(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
    if (t.state !== 'SUCCESS' && t.state !== 'REFUND') refuse(400, 'INVALID_REQUEST', '订单未支付，不能退款');
    const refund = Number.isSafeInteger(amount.refund) && (amount.refund as number) >= 1 ? (amount.refund as number) : refuse(400, 'PARAM_ERROR', '退款金额必须为大于0的整数（分）');
    if (amount.total !== t.totalFen) refuse(400, 'PARAM_ERROR', '订单金额与原订单不一致');
    const existing = state.refunds.get(outRefundNo);
    if (existing) {
      // The same out_refund_no again is the documented way to retry: it answers the existing refund.
      if (existing.outTradeNo !== t.outTradeNo || existing.refundFen !== refund) refuse(400, 'INVALID_REQUEST', '退款参数与首次请求不一致');
      return { status: 200, json: state.refundJson(existing) };
    }
    if (t.refundedFen + refund > t.totalFen) refuse(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
    t.refundedFen += refund;
    t.state = 'REFUND';
    const r = {
      refundId: `50${randomBytes(14).readBigUInt64BE().toString().padStart(20, '0').slice(0, 27)}`,
      outRefundNo, outTradeNo: t.outTradeNo, transactionId: t.transactionId!, status: 'PROCESSING' as const,
      refundFen: refund, totalFen: t.totalFen, notifyUrl: typeof b.notify_url === 'string' ? b.notify_url : undefined, createTime: rfc3339Beijing(state.nowMs()),
    };
    state.refunds.set(outRefundNo, r);
    state.settleRefundLater(outRefundNo);
    return { status: 200, json: state.refundJson(r) };
  });

  api('get', '/v3/refund/domestic/refunds/:no', (ctx) => {
    const r = state.refunds.get(ctx.params.no) ?? refuse(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    return { status: 200, json: state.refundJson(r) };
  });

  // The platform certificates, each encrypted under the APIv3 key; signed like every answer.
  api('get', '/v3/certificates', async () => {
    const tamper = state.tamperNextCertificates;
    state.tamperNextCertificates = false;
    return { status: 200, json: await state.certificates.listJson(id.apiV3Key, tamper) };
  });

  router.get('/cashier', (ctx) => cashierPage(ctx));
  router.post('/cashier', async (ctx) => {
    const form = Object.fromEntries(new URLSearchParams(await getRawBody(ctx.req, { limit: '16kb', encoding: 'utf-8' })));
    const returnUrl = safeReturnUrl(form.return_url);
    if (form.action === 'confirm') {
      const result = state.confirmPayment(form.prepay_id ?? '');
      if ('error' in result) return renderCashier(ctx, { error: result.error });
      result.delivery.catch(() => undefined);
      if (returnUrl) return ctx.redirect(withResult(returnUrl, 'ok'));
      return renderCashier(ctx, { done: '支付成功', transaction: result.transaction });
    }
    if (returnUrl) return ctx.redirect(withResult(returnUrl, 'cancel'));
    return renderCashier(ctx, { done: '已取消支付' });
  });

  function safeReturnUrl(v: string | undefined): string | undefined {
    if (!v) return undefined;
    try {
      const target = new URL(v);
      const base = new URL(`${opts.publicBaseUrl}/`);
      return target.origin === base.origin && target.pathname.startsWith(base.pathname) ? target.toString() : undefined;
    } catch {
      return undefined;
    }
  }
  const withResult = (url: string, result: string) => {
    const u = new URL(url);
    u.searchParams.set('wechatpay', result); // what get_brand_wcpay_request:ok / :cancel would tell the page
    return u.toString();
  };

  function renderCashier(ctx: Koa.Context, data: Record<string, unknown>) {
    ctx.type = 'html';
    ctx.status = data.error ? 400 : 200;
    ctx.body = opts.render('sandbox/wechatpay-cashier.njk', { sandbox: true, title: '微信支付', merchantName: id.merchantName, yuan, ...data });
  }

  /** What WeixinJSBridge checks before it shows the cashier: our appId, a live prepay_id and a paySign by the merchant key. */
  function cashierPage(ctx: Koa.Context) {
    const q = Object.fromEntries(Object.entries(ctx.query).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v ?? ''])) as Record<string, string>;
    const prepayId = (q.package ?? '').startsWith('prepay_id=') ? q.package.slice('prepay_id='.length) : '';
    if (q.appId !== id.appId) return renderCashier(ctx, { error: '调用支付JSAPI缺少参数：appId 或 appId 与商户号不匹配' });
    if (q.signType !== 'RSA' || !rsaVerify(id.merchantPublicKey, signedMessage(q.appId, q.timeStamp ?? '', q.nonceStr ?? '', q.package), q.paySign ?? '')) {
      return renderCashier(ctx, { error: '支付验证签名失败' });
    }
    const t = state.byPrepayId(prepayId);
    if (!t) return renderCashier(ctx, { error: 'prepay_id 无效或已过期' });
    if (t.state !== 'NOTPAY') return renderCashier(ctx, { error: t.state === 'CLOSED' ? '订单已关闭' : '该订单已支付' });
    return renderCashier(ctx, { transaction: t, prepayId, returnUrl: safeReturnUrl(q.return_url) ?? '' });
  }

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
