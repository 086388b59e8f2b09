import { UpstreamError } from '../../lib/errors';
import { type PlatformCertificate } from './certificates';
import { type JsapiPayParams } from './sign';
import { type TradeBill } from './trade-bill';

/** Order numbers we send: WeChat allows more characters, but `|` and `*` break path signing (see research notes). */
export const OUT_TRADE_NO = /^[A-Za-z0-9_-]{6,32}$/;

export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR' | 'ACCEPT';
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';

/** A transaction as query answers and the payment notify carries it (fields we rely on; WeChat sends more). */
export interface WechatPayTransaction {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: string;
  trade_state: TradeState;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  success_time?: string;
  payer?: { openid: string };
  /** Integer fen. */
  amount?: { total: number; payer_total?: number; currency: string; payer_currency?: string };
}

export interface WechatPayRefund {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  /** The notify calls it refund_status; the API calls it status. Both are filled here. */
  status: RefundStatus;
  /** When WeChat Pay accepted it (query answers only): the day the trade bill lists it. */
  create_time?: string;
  success_time?: string;
  user_received_account?: string;
  amount: { total: number; refund: number; payer_total?: number; payer_refund?: number; currency?: string };
}

export interface JsapiPrepayInput {
  outTradeNo: string;
  description: string;
  /** Integer fen, at least 1. */
  amountFen: number;
  openid: string;
  /** When the order stops being payable (at least a minute ahead; WeChat's limit is 90 days). */
  expiresAtMs: number;
  attach?: string;
  /** Defaults to WECHATPAY_NOTIFY_URL. */
  notifyUrl?: string;
}

export interface RefundInput {
  outTradeNo: string;
  /** Retry with the SAME out_refund_no: WeChat Pay then answers the existing refund instead of refunding twice. */
  outRefundNo: string;
  refundFen: number;
  totalFen: number;
  reason?: string;
  notifyUrl?: string;
}

/** The outgoing WeChat Pay calls. Every 2xx answer's signature has been verified before it is returned. */
export interface WechatPayClient {
  readonly mode: 'real' | 'sandbox';
  readonly appId: string;
  readonly mchId: string;
  jsapiPrepay(input: JsapiPrepayInput): Promise<{ prepayId: string }>;
  /** getBrandWCPayRequest parameters for the page, signed with the merchant key and a fresh crypto-random nonce. */
  jsapiPayParams(prepayId: string): JsapiPayParams;
  /** Undefined when WeChat Pay does not know the order (ORDER_NOT_EXIST). */
  queryByOutTradeNo(outTradeNo: string): Promise<WechatPayTransaction | undefined>;
  /** Repeatable; ORDERPAID (as a WechatPayError) when it was paid meanwhile. */
  close(outTradeNo: string): Promise<void>;
  refund(input: RefundInput): Promise<WechatPayRefund>;
  queryRefund(outRefundNo: string): Promise<WechatPayRefund | undefined>;
  /** GET /v3/certificates: the currently valid platform certificates, decrypted, checked and signature-verified. */
  downloadCertificates(): Promise<PlatformCertificate[]>;
  /**
   * The day's trade bill (bill_type ALL, `yyyy-MM-dd` in Beijing time): GET /v3/bill/tradebill, then its short-lived
   * download URL, the file's SHA1 checked against the signed answer. Undefined on NO_STATEMENT_EXIST (a day with no
   * trades). WeChat Pay makes it after 09:00 the next day and keeps it 3 months.
   */
  tradeBill(billDate: string): Promise<TradeBill | undefined>;
}

export type WechatPayErrorKind = 'api' | 'transport' | 'bad-response-signature' | 'bad-response';

/**
 * A call that did not succeed. `wechatCode` is WeChat Pay's own code (ORDERPAID, ORDER_CLOSED, PARAM_ERROR,
 * SIGN_ERROR, SYSTEM_ERROR, …) when it answered with one; transport and response-verification failures have none.
 */
export class WechatPayError extends UpstreamError {
  constructor(
    readonly kind: WechatPayErrorKind,
    detail: string,
    readonly wechatCode?: string,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super('微信支付暂时不可用，请稍后再试', detail, wechatCode, options);
  }
}
