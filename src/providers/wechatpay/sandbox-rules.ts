import { isIP } from 'node:net';
import { type SandboxRefund, type SandboxTransaction } from './sandbox-state';

/**
 * The field rules WeChat Pay documents for the calls this system makes, as the sandbox WeChat Pay enforces them,
 * with WeChat Pay's codes and HTTP statuses. Pure functions: the routes in sandbox.ts parse, call these, act.
 * Sources (quoted at each rule):
 * - JSAPI下单 https://pay.weixin.qq.com/doc/v3/merchant/4012525167 (and docs/merchant/products/jsapi-payment/apilist.html)
 * - 商户订单号查询订单 …/4012556352; 关闭订单 …/4012556398 — with the 公共错误码 / 业务错误码 tables these pages share
 *   (400 PARAM_ERROR, 400 APPID_MCHID_NOT_MATCH, 400 ORDER_CLOSED, 401 SIGN_ERROR, 403 OUT_TRADE_NO_USED, 404 ORDER_NOT_EXIST …)
 * - 退款申请 / 查询单笔退款 (/v3/refund/domestic/refunds)
 */
export class PayRefusal {
  constructor(readonly status: number, readonly code: string, readonly message: string) {}
}
export const refuse = (status: number, code: string, message: string): never => {
  throw new PayRefusal(status, code, message);
};

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const paramError = (message: string) => refuse(400, 'PARAM_ERROR', message);

/** 【商户订单号】"要求6-32个字符内，只能是数字、大小写字母_-|* 且在同一个商户号下唯一。" */
export const OUT_TRADE_NO_RULE = /^[0-9A-Za-z_\-|*]{6,32}$/;
/** 【商户退款单号】string(64) "只能是数字、大小写字母_-|*@ ，同一退款单号多次请求只退一笔。" */
export const OUT_REFUND_NO_RULE = /^[0-9A-Za-z_\-|*@]{1,64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** 退款: "一笔订单最多支持50次部分退款" (wechatpay-skills 接入质量检查清单; the refund page's own limit). */
export const MAX_REFUNDS_PER_ORDER = 50;

export interface SandboxMerchant {
  appId: string;
  mchId: string;
}

export function checkOutTradeNo(v: unknown): string {
  if (typeof v !== 'string' || !OUT_TRADE_NO_RULE.test(v)) paramError('out_trade_no 应为6-32个字符，只能是数字、大小写字母_-|*');
  return v as string;
}

export function checkOutRefundNo(v: unknown): string {
  if (typeof v !== 'string' || !OUT_REFUND_NO_RULE.test(v)) paramError('out_refund_no 应为1-64个字符，只能是数字、大小写字母_-|*@');
  return v as string;
}

/**
 * mchid in the body or query must be the merchant that signed the request (Authorization's mchid). Missing, WeChat
 * Pay answers e.g. "输入源“/uri_template/mchid”映射到字段“直连商户号”必填性规则校验失败，此字段为必填项" (PARAM_ERROR).
 */
export function checkMchid(v: unknown, m: SandboxMerchant, source: '/query' | '/body' = '/body'): void {
  if (v === undefined || v === '') paramError(`输入源“${source}/mchid”映射到字段“直连商户号”必填性规则校验失败，此字段为必填项`);
  if (v !== m.mchId) paramError('mchid与请求方商户号不一致');
}

/** appid: "需确保该appid与mchid有绑定关系" → 400 APPID_MCHID_NOT_MATCH "AppID和mch_id不匹配". */
export function checkAppidBinding(v: unknown, m: SandboxMerchant): void {
  if (typeof v !== 'string' || !v) paramError('输入源“/body/appid”映射到字段“公众账号ID”必填性规则校验失败，此字段为必填项');
  if (v !== m.appId) refuse(400, 'APPID_MCHID_NOT_MATCH', 'AppID和mch_id不匹配');
}

/**
 * notify_url string(255): "通知URL必须为外网可访问的URL，不能携带参数。公网域名必须为HTTPS，如果是走专线接入，使用专线NAT
 * IP或者私有回调域名可使用HTTP". The sandbox reads the 专线 exception as: plain http is allowed only for a host that
 * is not on the public internet — localhost, a loopback or private (RFC 1918 / fc00::/7) IP literal — which is
 * where the app's sandbox mode and the tests listen (http://localhost:3000/pay/wechat/notify). Any public host
 * must be https, as WeChat Pay demands. No query string and no fragment, ever.
 */
export function checkNotifyUrl(v: unknown): string {
  if (typeof v !== 'string' || !v) return paramError('输入源“/body/notify_url”映射到字段“通知地址”必填性规则校验失败，此字段为必填项');
  if (v.length > 255) paramError('notify_url 长度不能超过255个字符');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return paramError('notify_url 格式错误');
  }
  if (u.search || u.hash || v.includes('?')) paramError('notify_url 不能携带参数');
  if (u.protocol === 'https:') return v;
  if (u.protocol === 'http:' && isPrivateHost(u.hostname)) return v;
  return paramError('notify_url 公网域名必须为HTTPS');
}

export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) {
    const [a, b] = host.split('.').map(Number);
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (family === 6) return host === '::1' || /^f[cd]/.test(host);
  return false;
}

/** A JSAPI prepay request that passed the field rules; `timeExpireMs` as WeChat Pay would hold it (adjusted). */
export interface JsapiPrepayRequest {
  outTradeNo: string;
  description: string;
  totalFen: number;
  openid: string;
  attach?: string;
  notifyUrl: string;
  /** The instant sent (before adjustment), undefined when time_expire was not sent: what a repeat must send again. */
  timeExpireSentMs?: number;
  /** When payment stops being possible. */
  expiresAtMs: number;
}

/** POST /v3/pay/transactions/jsapi, field by field, in the order WeChat Pay lists them. */
export function checkJsapiPrepay(b: Json, m: SandboxMerchant, nowMs: number): JsapiPrepayRequest {
  checkAppidBinding(b.appid, m);
  checkMchid(b.mchid, m);
  // description string(127): "商户需传递能真实代表商品信息的描述，不能超过127个字符。"
  if (typeof b.description !== 'string' || !b.description) paramError('输入源“/body/description”映射到字段“商品描述”必填性规则校验失败，此字段为必填项');
  const description = b.description as string;
  if ([...description].length > 127) paramError('description 不能超过127个字符');
  const outTradeNo = checkOutTradeNo(b.out_trade_no);
  // attach string(128)
  if (b.attach !== undefined && (typeof b.attach !== 'string' || [...b.attach].length > 128)) paramError('attach 不能超过128个字符');
  const notifyUrl = checkNotifyUrl(b.notify_url);
  // amount.total int: 【总金额】"订单总金额，单位为分" — an integer number of fen, at least 1.
  const amount = isObj(b.amount) ? b.amount : paramError('输入源“/body/amount”映射到字段“订单金额”必填性规则校验失败，此字段为必填项');
  if (!Number.isSafeInteger(amount.total) || (amount.total as number) < 1) paramError('amount.total 订单总金额，单位为分，须为大于0的整数');
  // amount.currency 选填 "CNY：人民币，境内商户号仅支持人民币。"
  if (amount.currency !== undefined && amount.currency !== 'CNY') paramError('amount.currency 境内商户号仅支持人民币CNY');
  const payer = isObj(b.payer) ? b.payer : paramError('输入源“/body/payer”映射到字段“支付者”必填性规则校验失败，此字段为必填项');
  if (typeof payer.openid !== 'string' || !payer.openid || payer.openid.length > 128) paramError('输入源“/body/payer/openid”映射到字段“用户标识”必填性规则校验失败，此字段为必填项');
  // time_expire: "3、若未指定支付结束时间 … 超过 7 天未支付的订单，无法再支付。" "支付结束时间不能早于下单时间后1分钟，若设置的
  // 支付结束时间早于该时间，系统将自动调整为下单时间后1分钟" "需在下单时间的90天以内，如超过90天，微信支付会自动将该时间调整为下单
  // 时间后的第90天。" — adjusted, not refused; only a malformed value is a PARAM_ERROR.
  let timeExpireSentMs: number | undefined;
  let expiresAtMs = nowMs + 7 * DAY_MS;
  if (b.time_expire !== undefined) {
    const t = typeof b.time_expire === 'string' && RFC3339.test(b.time_expire) ? Date.parse(b.time_expire) : NaN;
    if (Number.isNaN(t)) paramError('time_expire 须遵循rfc3339标准格式：yyyy-MM-DDTHH:mm:ss+TIMEZONE');
    timeExpireSentMs = t;
    expiresAtMs = Math.min(Math.max(t, nowMs + MINUTE_MS), nowMs + 90 * DAY_MS);
  }
  return {
    outTradeNo, description, totalFen: amount.total as number, openid: payer.openid as string,
    attach: b.attach as string | undefined, notifyUrl, timeExpireSentMs, expiresAtMs,
  };
}

/**
 * The same out_trade_no again. Paid → ORDERPAID; closed → 400 ORDER_CLOSED "当前订单已关闭，请重新下单"; past its
 * time_expire → "若用户实际进行支付的时间超过了订单设置的支付结束时间，商户需使用新的商户订单号下单" (refused as closed);
 * time_expire changed → "time_expire 参数仅在用户首次下单时可设置，且不允许后续修改，尝试修改将导致错误" (the page names no code:
 * the sandbox answers the code of "同号不同单", 403 OUT_TRADE_NO_USED "商户订单号重复 请核实商户订单号是否重复提交"); any
 * other field changed → 403 OUT_TRADE_NO_USED. Only "原参数重新请求下单接口" gets a fresh prepay_id.
 */
export function checkRepeatPrepay(existing: SandboxTransaction, req: JsapiPrepayRequest, nowMs: number): void {
  if (existing.state === 'SUCCESS' || existing.state === 'REFUND') refuse(400, 'ORDERPAID', '该订单已支付');
  if (existing.state === 'CLOSED') refuse(400, 'ORDER_CLOSED', '订单已关闭');
  if (existing.expiresAtMs <= nowMs) refuse(400, 'ORDER_CLOSED', '订单已超过支付结束时间，请使用新的商户订单号下单');
  if (existing.timeExpireSentMs !== req.timeExpireSentMs) {
    refuse(403, 'OUT_TRADE_NO_USED', '商户订单号重复：time_expire 参数仅在首次下单时可设置，不允许后续修改');
  }
  const changed = (['description', 'totalFen', 'openid', 'notifyUrl'] as const).filter((k) => existing[k] !== req[k]);
  if ((existing.attach ?? '') !== (req.attach ?? '')) changed.push('attach' as never);
  if (changed.length) refuse(403, 'OUT_TRADE_NO_USED', `商户订单号重复（与首次下单的参数不一致：${changed.join(', ')}）`);
}

/**
 * POST /v3/refund/domestic/refunds for a known transaction, before it is recorded. amount.refund int ≥ 1;
 * amount.total "原支付交易的订单总金额" must be the order's; the refunds of an order together never exceed what was paid
 * (INVALID_REQUEST "申请退款金额超过订单可退金额"); at most MAX_REFUNDS_PER_ORDER refunds per order.
 */
export function checkRefund(b: Json, t: SandboxTransaction, refundsOfOrder: SandboxRefund[]): { refundFen: number } {
  const amount = isObj(b.amount) ? b.amount : paramError('输入源“/body/amount”映射到字段“金额信息”必填性规则校验失败，此字段为必填项');
  if (amount.currency !== undefined && amount.currency !== 'CNY') paramError('amount.currency 境内商户号仅支持人民币CNY');
  if (!Number.isSafeInteger(amount.refund) || (amount.refund as number) < 1) paramError('amount.refund 退款金额，单位为分，须为大于0的整数');
  if (amount.total !== t.totalFen) paramError('amount.total 与原支付交易的订单总金额不一致');
  if (b.notify_url !== undefined) checkNotifyUrl(b.notify_url);
  if (t.state !== 'SUCCESS' && t.state !== 'REFUND') refuse(400, 'INVALID_REQUEST', '订单未支付，不能退款');
  const refundFen = amount.refund as number;
  const counted = refundsOfOrder.filter((r) => r.status !== 'CLOSED' && r.status !== 'ABNORMAL');
  if (counted.reduce((sum, r) => sum + r.refundFen, 0) + refundFen > t.totalFen) refuse(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
  if (refundsOfOrder.length >= MAX_REFUNDS_PER_ORDER) refuse(400, 'INVALID_REQUEST', `一笔订单最多支持${MAX_REFUNDS_PER_ORDER}次部分退款`);
  return { refundFen };
}

/** The same out_refund_no again is the documented retry ("同一退款单号多次请求只退一笔"): it must be the same refund. */
export function checkRepeatRefund(existing: SandboxRefund, outTradeNo: string, refundFen: number): void {
  if (existing.outTradeNo !== outTradeNo || existing.refundFen !== refundFen) refuse(400, 'INVALID_REQUEST', '退款参数与首次请求不一致');
}
