import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { pagePolicy } from '../../lib/http/security-headers';
import { type Logger } from '../../lib/logger';
import { type RenderPage } from '../../lib/views';
import { rfc3339Beijing } from './real';
import { tradeBillAnswer } from './sandbox-bill';
import { type SandboxWechatPayState } from './sandbox-state';
import { MAX_SKEW_SECONDS, parseAuthorization, rsaVerify, signedMessage } from './sign';
import { checkJsapiPrepay, checkMchid, checkOutRefundNo, checkOutTradeNo, checkRefund, checkRepeatPrepay, checkRepeatRefund, PayRefusal, refuse } from './sandbox-rules';

/**
 * The sandbox WeChat Pay: the APIv3 endpoints the client uses (jsapi prepay, query, close, refund, platform certificates, trade bill) with WeChat
 * Pay's JSON shapes, HTTP statuses and error codes; requests must carry a valid merchant signature (else 401
 * SIGN_ERROR) and every answer is signed with the sandbox's own key. Plus the cashier page the H5 page opens
 * instead of WeixinJSBridge. Mounted at /sandbox/wechatpay in sandbox mode only.
 */
export const SANDBOX_WECHATPAY_PATH = '/sandbox/wechatpay';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);

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
  // The cashier's address carries the prepay_id and paySign: no Referer from it.
  app.use(pagePolicy({ noReferrer: true }));

  /** Every call must carry the merchant's signature over the request as sent (else 401 SIGN_ERROR). */
  function checkMerchantSignature(ctx: Koa.Context, raw: string): void {
    const auth = parseAuthorization(ctx.get('authorization'));
    if (!auth) refuse(401, 'SIGN_ERROR', 'Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》');
    if (auth!.mchid !== id.mchId || auth!.serial_no.toUpperCase() !== id.merchantSerialNo.toUpperCase()) refuse(401, 'SIGN_ERROR', '商户证书序列号有误或商户号不存在');
    if (Math.abs(Math.floor(state.nowMs() / 1000) - Number(auth!.timestamp)) > MAX_SKEW_SECONDS) refuse(401, 'SIGN_ERROR', 'Http头Authorization中的timestamp与发起请求的时间不得超过5分钟');
    // WeChat Pay signs "the request's absolute URL without the domain": the path as the client sent it, with any
    // prefix before /v3 (here the sandbox's own mount point) and the query string — not the path after the mount.
    const message = signedMessage(ctx.method, ctx.originalUrl, auth!.timestamp, auth!.nonce_str, raw);
    if (!rsaVerify(id.merchantPublicKey, message, auth!.signature)) refuse(401, 'SIGN_ERROR', '错误的签名，验签失败');
  }

  type Answer = { status: number; json?: Json };
  function api(method: 'get' | 'post', path: string, handler: (ctx: Koa.Context, body: Json) => Answer | Promise<Answer>) {
    router[method](path, async (ctx) => {
      let status: number;
      let text = '';
      try {
        const raw = method === 'post' ? await getRawBody(ctx.req, { limit: '64kb', encoding: 'utf-8' }).catch(() => refuse(400, 'PARAM_ERROR', '请求体过大或无法读取')) : '';
        checkMerchantSignature(ctx, raw);
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

  api('post', '/v3/pay/transactions/jsapi', (_ctx, b) => {
    const now = state.nowMs();
    const req = checkJsapiPrepay(b, id, now);
    const existing = state.transactions.get(req.outTradeNo);
    if (existing) checkRepeatPrepay(existing, req, now);
    else {
      state.transactions.set(req.outTradeNo, {
        appid: id.appId, mchid: id.mchId, outTradeNo: req.outTradeNo, description: req.description, attach: req.attach, notifyUrl: req.notifyUrl,
        totalFen: req.totalFen, openid: req.openid, expiresAtMs: req.expiresAtMs, timeExpireSentMs: req.timeExpireSentMs, state: 'NOTPAY', refundedFen: 0,
      });
    }
    return { status: 200, json: { prepay_id: state.newPrepayId(req.outTradeNo) } };
  });

  api('get', '/v3/pay/transactions/out-trade-no/:no', (ctx) => {
    checkMchid(ctx.query.mchid, id, '/query');
    return { status: 200, json: state.transactionJson(txOf(checkOutTradeNo(ctx.params.no))) };
  });

  api('post', '/v3/pay/transactions/out-trade-no/:no/close', (ctx, b) => {
    checkMchid(b.mchid, id);
    const t = txOf(checkOutTradeNo(ctx.params.no));
    if (t.state === 'SUCCESS' || t.state === 'REFUND') refuse(400, 'ORDERPAID', '订单已支付，不能关闭');
    t.state = 'CLOSED';
    return { status: 204 };
  });

  api('post', '/v3/refund/domestic/refunds', (_ctx, b) => {
    const outRefundNo = checkOutRefundNo(b.out_refund_no);
    if (b.out_trade_no !== undefined) checkOutTradeNo(b.out_trade_no);
    const t = typeof b.out_trade_no === 'string'
      ? state.transactions.get(b.out_trade_no)
      : [...state.transactions.values()].find((x) => x.transactionId && x.transactionId === b.transaction_id);
    if (!t) return refuse(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
    const existing = state.refunds.get(outRefundNo);
    const refundsOfOrder = [...state.refunds.values()].filter((r) => r.outTradeNo === t.outTradeNo && r !== existing);
    const { refundFen: refund } = checkRefund(b, t, refundsOfOrder);
    if (existing) {
      // The same out_refund_no again is the documented way to retry: it answers the existing refund.
      checkRepeatRefund(existing, t.outTradeNo, refund);
      return { status: 200, json: state.refundJson(existing) };
    }
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
    const r = state.refunds.get(checkOutRefundNo(ctx.params.no)) ?? refuse(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    return { status: 200, json: state.refundJson(r) };
  });

  // The platform certificates, each encrypted under the APIv3 key; signed like every answer.
  api('get', '/v3/certificates', async () => {
    const tamper = state.tamperNextCertificates;
    state.tamperNextCertificates = false;
    return { status: 200, json: await state.certificates.listJson(id.apiV3Key, tamper) };
  });

  // 申请交易账单: the bill of a past day built from the sandbox's own records, behind a 30-second download token.
  api('get', '/v3/bill/tradebill', (ctx) => {
    const bill = tradeBillAnswer(state, ctx.query, `${ctx.protocol}://${ctx.host}${ctx.originalUrl.slice(0, ctx.originalUrl.indexOf('/v3/'))}`);
    return { status: 200, json: bill };
  });

  // 下载账单: signed request, but (as at WeChat Pay) an unsigned answer: the client checks the SHA1 instead.
  router.get('/v3/billdownload/file', (ctx) => {
    try {
      checkMerchantSignature(ctx, '');
      const file = state.billFiles.take(String(ctx.query.token ?? ''), state.nowMs()) ?? refuse(400, 'INVALID_REQUEST', '下载链接已过期，请重新申请');
      ctx.type = 'application/octet-stream';
      ctx.body = file;
    } catch (err) {
      if (!(err instanceof PayRefusal)) throw err;
      ctx.status = err.status;
      ctx.type = 'application/json';
      ctx.body = JSON.stringify({ code: err.code, message: err.message });
    }
  });

  router.get('/cashier', (ctx) => cashierPage(ctx));
  router.post('/cashier', async (ctx) => {
    const form = Object.fromEntries(new URLSearchParams(await getRawBody(ctx.req, { limit: '16kb', encoding: 'utf-8' })));
    const returnUrl = safeReturnUrl(form.return_url);
    if (form.action === 'confirm') {
      const result = state.confirmPayment(form.prepay_id ?? '');
      if ('error' in result) return renderCashier(ctx, { error: result.error, returnUrl: returnUrl ?? '' });
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
    // A refusal still leads back to the page that opened the cashier (WeChat's own cashier closes and returns there).
    const returnUrl = safeReturnUrl(q.return_url) ?? '';
    if (q.appId !== id.appId) return renderCashier(ctx, { error: '调用支付JSAPI缺少参数：appId 或 appId 与商户号不匹配', returnUrl });
    if (q.signType !== 'RSA' || !rsaVerify(id.merchantPublicKey, signedMessage(q.appId, q.timeStamp ?? '', q.nonceStr ?? '', q.package), q.paySign ?? '')) {
      return renderCashier(ctx, { error: '支付验证签名失败', returnUrl });
    }
    const t = state.byPrepayId(prepayId);
    if (!t) return renderCashier(ctx, { error: 'prepay_id 无效或已过期', returnUrl });
    if (t.state !== 'NOTPAY') return renderCashier(ctx, { error: t.state === 'CLOSED' ? '订单已关闭' : '该订单已支付', returnUrl });
    return renderCashier(ctx, { transaction: t, prepayId, returnUrl });
  }

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
