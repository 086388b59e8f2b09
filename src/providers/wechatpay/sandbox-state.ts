import { randomBytes } from 'node:crypto';
import { type KeyObject } from 'node:crypto';
import { type Logger } from '../../lib/logger';
import { rfc3339Beijing } from './real';
import { SandboxBillFiles } from './sandbox-bill';
import { SandboxPlatformCertificates } from './sandbox-certificates';
import { aesGcmEncrypt, rsaSign, signedMessage } from './sign';
import { type RefundStatus, type TradeState } from './types';

/**
 * The sandbox WeChat Pay's own state: one merchant (ours), its transactions and refunds, and every notify it
 * sent. Shared by the sandbox API server and the cashier page. Answers and notifies are signed with the sandbox's
 * own key, under its 微信支付公钥 ID (public-key mode) or a platform certificate's serial (certificate mode, see
 * sandbox-certificates.ts), and encrypted with the merchant's APIv3 key, exactly as WeChat Pay does.
 */
export interface SandboxWechatPayIdentity {
  appId: string;
  mchId: string;
  merchantName: string;
  merchantSerialNo: string;
  merchantPublicKey: KeyObject;
  apiV3Key: string;
  platformPrivateKey: KeyObject;
  /** Absent: the merchant is in platform-certificate mode only (WECHATPAY_PLATFORM_CERTS=download). */
  publicKeyId?: string;
}

export interface SandboxTransaction {
  appid: string;
  mchid: string;
  outTradeNo: string;
  description: string;
  attach?: string;
  notifyUrl: string;
  totalFen: number;
  openid: string;
  expiresAtMs: number;
  state: TradeState;
  transactionId?: string;
  successTime?: string;
  refundedFen: number;
  /** time_expire as first sent (undefined: none was sent): a repeat must send it again unchanged (sandbox-rules.ts). */
  timeExpireSentMs?: number;
}

export interface SandboxRefund {
  refundId: string;
  outRefundNo: string;
  outTradeNo: string;
  transactionId: string;
  status: RefundStatus;
  refundFen: number;
  totalFen: number;
  notifyUrl?: string;
  createTime: string;
  successTime?: string;
}

export interface SandboxNotifyDelivery {
  at: number;
  url: string;
  eventType: string;
  /** HTTP status of each attempt (0 = no connection). */
  attempts: number[];
  delivered: boolean;
}

/** WeChat Pay retries 15 s, 15 s, 30 s, 3 m … over a day; the sandbox keeps the idea on a short schedule. */
export const SANDBOX_RETRY_SCHEDULE_MS = [1_000, 3_000, 10_000, 30_000];
const PREPAY_TTL_MS = 2 * 3600_000;

export class SandboxWechatPayState {
  readonly transactions = new Map<string, SandboxTransaction>();
  readonly prepays = new Map<string, { outTradeNo: string; expiresAt: number }>();
  readonly refunds = new Map<string, SandboxRefund>();
  readonly deliveries: SandboxNotifyDelivery[] = [];
  retryScheduleMs = SANDBOX_RETRY_SCHEDULE_MS;
  /**
   * A new refund succeeds on its own after this long (REFUND.SUCCESS notify), as WeChat Pay's do after seconds to
   * days; null: it stays PROCESSING until completeRefund (tests that want ABNORMAL or CLOSED, or a lost notify).
   */
  refundSettleMs: number | null = 2_000;
  /** Tests set this to make the next API answer's body differ from what was signed. */
  tamperNextResponse = false;
  /** Tests set this to break the GCM tag of the certificates in the next GET /v3/certificates answer (signed as sent). */
  tamperNextCertificates = false;
  /** The platform certificates (the first one for platformPrivateKey); GET /v3/certificates lists them. */
  readonly certificates: SandboxPlatformCertificates;
  /** Trade bill files waiting behind their download tokens (sandbox-bill.ts). */
  readonly billFiles = new SandboxBillFiles();
  /** Which key signs: the 微信支付公钥 (under publicKeyId) or the current platform certificate (under its serial). */
  signWith: 'public-key' | 'certificate';
  /** Tests: sign with this key under this serial instead (an impostor, or an unknown certificate). */
  signingOverride?: { serial: string; key: KeyObject };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    readonly id: SandboxWechatPayIdentity,
    readonly logger: Logger,
    readonly nowMs: () => number = Date.now,
    private readonly fetchFn: typeof fetch = globalThis.fetch,
  ) {
    this.certificates = new SandboxPlatformCertificates(id.platformPrivateKey, () => this.nowMs());
    this.signWith = id.publicKeyId ? 'public-key' : 'certificate';
  }

  newPrepayId(outTradeNo: string): string {
    const prepayId = `wx${rfc3339Beijing(this.nowMs()).replace(/\D/g, '').slice(0, 14)}${randomBytes(10).toString('hex')}`;
    this.prepays.set(prepayId, { outTradeNo, expiresAt: this.nowMs() + PREPAY_TTL_MS });
    return prepayId;
  }

  /** The transaction a prepay_id belongs to, while the prepay_id is valid (2 h). */
  byPrepayId(prepayId: string): SandboxTransaction | undefined {
    const p = this.prepays.get(prepayId);
    return p && p.expiresAt > this.nowMs() ? this.transactions.get(p.outTradeNo) : undefined;
  }

  /** Headers WeChat Pay puts on a signed answer or notify, for `body` as sent. */
  signatureHeaders(body: string): Record<string, string> {
    const timestamp = String(Math.floor(this.nowMs() / 1000));
    const nonce = randomBytes(16).toString('hex');
    const cert = this.certificates.signer;
    const { serial, key } = this.signingOverride
      ?? (this.signWith === 'public-key' && this.id.publicKeyId ? { serial: this.id.publicKeyId, key: this.id.platformPrivateKey } : { serial: cert.serialNo, key: cert.privateKey });
    return {
      'Wechatpay-Serial': serial,
      'Wechatpay-Timestamp': timestamp,
      'Wechatpay-Nonce': nonce,
      'Wechatpay-Signature': rsaSign(key, signedMessage(timestamp, nonce, body)),
      'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
    };
  }

  transactionJson(t: SandboxTransaction): Record<string, unknown> {
    const desc: Record<string, string> = { SUCCESS: '支付成功', REFUND: '转入退款', NOTPAY: '订单未支付', CLOSED: '订单已关闭', PAYERROR: '支付失败' };
    return {
      appid: t.appid,
      mchid: t.mchid,
      out_trade_no: t.outTradeNo,
      ...(t.transactionId ? { transaction_id: t.transactionId, trade_type: 'JSAPI', bank_type: 'OTHERS', success_time: t.successTime } : {}),
      trade_state: t.state,
      trade_state_desc: desc[t.state] ?? t.state,
      attach: t.attach ?? '',
      payer: { openid: t.openid },
      amount: t.transactionId ? { total: t.totalFen, payer_total: t.totalFen, currency: 'CNY', payer_currency: 'CNY' } : { total: t.totalFen, currency: 'CNY', payer_currency: 'CNY' },
    };
  }

  refundJson(r: SandboxRefund, notify = false): Record<string, unknown> {
    const common = {
      refund_id: r.refundId, out_refund_no: r.outRefundNo, transaction_id: r.transactionId, out_trade_no: r.outTradeNo,
      user_received_account: '支付用户零钱', ...(r.successTime ? { success_time: r.successTime } : {}),
    };
    if (notify) {
      return { mchid: this.id.mchId, ...common, refund_status: r.status, amount: { total: r.totalFen, refund: r.refundFen, payer_total: r.totalFen, payer_refund: r.refundFen } };
    }
    return {
      ...common, channel: 'ORIGINAL', create_time: r.createTime, status: r.status,
      amount: { total: r.totalFen, refund: r.refundFen, payer_total: r.totalFen, payer_refund: r.refundFen, settlement_total: r.totalFen, settlement_refund: r.refundFen, discount_refund: 0, currency: 'CNY' },
    };
  }

  /** The user pressed 确认支付: the transaction succeeds and the payment notify goes out (delivery is awaited by tests). */
  confirmPayment(prepayId: string): { transaction: SandboxTransaction; delivery: Promise<void> } | { error: string } {
    const t = this.byPrepayId(prepayId);
    if (!t) return { error: 'prepay_id 无效或已过期' };
    if (t.state === 'SUCCESS' || t.state === 'REFUND') return { error: '该订单已支付' };
    if (t.state !== 'NOTPAY') return { error: '订单已关闭' };
    if (t.expiresAtMs <= this.nowMs()) return { error: '订单已过支付时间' };
    t.state = 'SUCCESS';
    t.transactionId = `42000${rfc3339Beijing(this.nowMs()).replace(/\D/g, '').slice(0, 8)}${randomBytes(8).readBigUInt64BE().toString().padStart(20, '0').slice(0, 18)}`;
    t.successTime = rfc3339Beijing(this.nowMs());
    const delivery = this.sendNotify(t.notifyUrl, 'TRANSACTION.SUCCESS', '支付成功', 'transaction', this.transactionJson(t));
    return { transaction: t, delivery };
  }

  /** Test hook (and what WeChat Pay does after a refund settles): the refund ends and its notify goes out. */
  completeRefund(outRefundNo: string, status: Exclude<RefundStatus, 'PROCESSING'> = 'SUCCESS'): Promise<void> {
    const r = this.refunds.get(outRefundNo);
    if (!r) throw new Error(`sandbox wechatpay: no refund ${outRefundNo}`);
    r.status = status;
    if (status === 'SUCCESS') r.successTime = rfc3339Beijing(this.nowMs());
    const summary = { SUCCESS: '退款成功', ABNORMAL: '退款异常', CLOSED: '退款关闭' }[status];
    if (!r.notifyUrl) return Promise.resolve();
    return this.sendNotify(r.notifyUrl, `REFUND.${status}`, summary, 'refund', this.refundJson(r, true));
  }

  /** Called for each new refund: it settles by itself after refundSettleMs unless something settled it first. */
  settleRefundLater(outRefundNo: string): void {
    if (this.refundSettleMs === null) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.refunds.get(outRefundNo)?.status === 'PROCESSING') void this.completeRefund(outRefundNo).catch(() => undefined);
    }, this.refundSettleMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** A notify exactly as WeChat Pay builds it: envelope + AEAD_AES_256_GCM resource, signed over the raw body. */
  buildNotify(eventType: string, summary: string, originalType: 'transaction' | 'refund', resource: Record<string, unknown>): { headers: Record<string, string>; body: string } {
    const nonce = randomBytes(9).toString('base64url').slice(0, 12);
    const body = JSON.stringify({
      id: `EV-${randomBytes(9).toString('hex')}`,
      create_time: rfc3339Beijing(this.nowMs()),
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary,
      resource: {
        original_type: originalType,
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: aesGcmEncrypt(this.id.apiV3Key, nonce, originalType, JSON.stringify(resource)),
        associated_data: originalType,
        nonce,
      },
    });
    return { headers: { 'Content-Type': 'application/json', ...this.signatureHeaders(body) }, body };
  }

  private sendNotify(url: string, eventType: string, summary: string, originalType: 'transaction' | 'refund', resource: Record<string, unknown>): Promise<void> {
    const delivery: SandboxNotifyDelivery = { at: this.nowMs(), url, eventType, attempts: [], delivered: false };
    this.deliveries.push(delivery);
    const attempt = async (n: number): Promise<void> => {
      // Each resend is signed afresh (new timestamp and nonce), as WeChat Pay's are.
      const { headers, body } = this.buildNotify(eventType, summary, originalType, resource);
      let status = 0;
      try {
        const res = await this.fetchFn(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        this.logger.debug({ url, err: (err as Error).message }, 'sandbox wechatpay notify: no connection');
      }
      delivery.attempts.push(status);
      if (status >= 200 && status < 300) {
        delivery.delivered = true;
        return;
      }
      const wait = this.retryScheduleMs[n];
      if (wait === undefined) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, wait);
        timer.unref();
        this.timers.add(timer);
      });
      return attempt(n + 1);
    };
    const p = attempt(0).finally(() => this.pending.delete(p));
    this.pending.add(p);
    return p;
  }

  /** Stops pending resends (tests, shutdown). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
