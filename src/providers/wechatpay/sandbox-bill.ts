import { createHash, randomBytes } from 'node:crypto';
import { refuse } from './sandbox-rules';
import { type SandboxWechatPayState } from './sandbox-state';
import { formatTradeBill, type TradeBillRow } from './trade-bill';

/**
 * The sandbox's trade bills, built from its own records the way WeChat Pay builds them: a payment on the day it
 * succeeded (also when it was refunded later), a refund on the day it was accepted; Beijing days; only past days,
 * for 3 months; NO_STATEMENT_EXIST for a day without trades. The file waits behind a single-use token for 30 s.
 */
const DOWNLOAD_TTL_MS = 30_000;
const DAY_MS = 86_400_000;
const beijingDay = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 10);
/** `2026-12-02T10:00:00+08:00` → `2026-12-02 10:00:00` (the bill's 交易时间). */
const billTime = (rfc3339: string) => rfc3339.slice(0, 19).replace('T', ' ');

export class SandboxBillFiles {
  private readonly files = new Map<string, { body: Buffer; expiresAt: number }>();
  /** Tests: the next file served differs from the one whose SHA1 the answer carried. */
  tamperNext = false;
  /** Tests: the next answer's download_url points elsewhere (a host that must never get our signature). */
  downloadBaseOverride?: string;

  put(body: Buffer, now: number): string {
    for (const [token, f] of this.files) if (f.expiresAt <= now) this.files.delete(token);
    const token = randomBytes(24).toString('base64url');
    this.files.set(token, { body, expiresAt: now + DOWNLOAD_TTL_MS });
    return token;
  }

  take(token: string, now: number): Buffer | undefined {
    const f = this.files.get(token);
    this.files.delete(token);
    if (!f || f.expiresAt <= now) return undefined;
    if (this.tamperNext) {
      this.tamperNext = false;
      return Buffer.concat([f.body, Buffer.from('`0\r\n')]);
    }
    return f.body;
  }
}

export function sandboxBillRows(state: SandboxWechatPayState, day: string): TradeBillRow[] {
  const rows: TradeBillRow[] = [];
  const { appId, mchId } = state.id;
  for (const t of state.transactions.values()) {
    if (!t.transactionId || !t.successTime || t.successTime.slice(0, 10) !== day) continue;
    rows.push({
      tradeTime: billTime(t.successTime), appId, mchId, transactionId: t.transactionId, outTradeNo: t.outTradeNo, openid: t.openid, tradeType: 'JSAPI',
      tradeState: 'SUCCESS', orderFen: t.totalFen, settlementFen: t.totalFen, refundId: '', outRefundNo: '', refundFen: 0, refundStatus: '', description: t.description, attach: t.attach ?? '',
    });
  }
  for (const r of state.refunds.values()) {
    if (r.createTime.slice(0, 10) !== day) continue;
    const t = state.transactions.get(r.outTradeNo);
    rows.push({
      tradeTime: billTime(r.createTime), appId, mchId, transactionId: r.transactionId, outTradeNo: r.outTradeNo, openid: t?.openid ?? '', tradeType: 'JSAPI',
      tradeState: 'REFUND', orderFen: 0, settlementFen: 0, refundId: r.refundId, outRefundNo: r.outRefundNo, refundFen: r.refundFen,
      // The bill is a snapshot: the refund's status when it was written.
      refundStatus: r.status, description: t?.description ?? '', attach: t?.attach ?? '',
    });
  }
  return rows.sort((a, b) => a.tradeTime.localeCompare(b.tradeTime));
}

/** The answer of GET /v3/bill/tradebill (`base`: where this sandbox is mounted, as the client reached it). */
export function tradeBillAnswer(state: SandboxWechatPayState, query: Record<string, unknown>, base: string): Record<string, string> {
  const day = typeof query.bill_date === 'string' ? query.bill_date : '';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00+08:00`))) refuse(400, 'PARAM_ERROR', '账单日期格式不正确，格式为yyyy-MM-DD');
  const billType = query.bill_type ?? 'ALL';
  if (billType !== 'ALL') refuse(400, 'PARAM_ERROR', '沙箱仅支持 bill_type=ALL');
  if (query.tar_type !== undefined) refuse(400, 'PARAM_ERROR', '沙箱仅支持不压缩的账单');
  const now = state.nowMs();
  if (day >= beijingDay(now)) refuse(400, 'PARAM_ERROR', '账单日期不能是今天或以后');
  if (day < beijingDay(now - 92 * DAY_MS)) refuse(400, 'PARAM_ERROR', '仅支持三个月内的账单下载申请');
  const rows = sandboxBillRows(state, day);
  if (!rows.length) refuse(400, 'NO_STATEMENT_EXIST', '要下载的账单文件不存在');
  const body = Buffer.from(formatTradeBill(rows), 'utf8');
  const token = state.billFiles.put(body, now);
  const downloadBase = state.billFiles.downloadBaseOverride ?? base;
  state.billFiles.downloadBaseOverride = undefined;
  return { hash_type: 'SHA1', hash_value: createHash('sha1').update(body).digest('hex'), download_url: `${downloadBase}/v3/billdownload/file?token=${token}` };
}
