import { type Certificate } from '../certificates/entities';
import { type ProjectRules } from '../certificates/projects';
import { type CertificateCard, formatDateTime, maskMediaSerial, toCard } from '../certificates/view-model';
import { type OrderWithLines } from '../orders/repository';
import { type RenewalOption } from '../orders/renewal-preview';
import { type OrderState } from '../orders/states';

/** 40000 → "400.00": money is integer fen everywhere; only the page shows yuan. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(fen));
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export const STATE_LABEL: Readonly<Record<OrderState, string>> = {
  PENDING_PAYMENT: '待支付', PAID: '已支付', FULFILLED: '已完成', CLOSED: '已关闭', REFUNDING: '退款中', REFUNDED: '已退款',
};
/** Badge tones of the shared badge macro: waiting is a warning, done is ok, closed/refunded are grey. */
const STATE_TONE: Readonly<Record<OrderState, string>> = {
  PENDING_PAYMENT: 'warn', PAID: 'ok', FULFILLED: 'ok', CLOSED: 'revoked', REFUNDING: 'warn', REFUNDED: 'revoked',
};

/** "剩余 1 小时 59 分钟" (or "剩余 6 天" from 48 hours) until the order closes itself; null once past (the sweep closes it). */
export function countdownText(expiresAt: Date, now: Date): string | null {
  const minutes = Math.ceil((expiresAt.getTime() - now.getTime()) / 60_000);
  if (minutes <= 0) return null;
  const h = Math.floor(minutes / 60);
  if (h === 0) return `剩余 ${minutes} 分钟`;
  // A 对公汇款 order waits days: "剩余 168 小时" is hard to read; whole days (rounded down) are enough there.
  if (h >= 48) return `剩余 ${Math.floor(h / 24)} 天`;
  return minutes % 60 ? `剩余 ${h} 小时 ${minutes % 60} 分钟` : `剩余 ${h} 小时`;
}

export interface OptionView {
  card: CertificateCard;
  unitYuan: string | null;
  unitFen: number | null;
  allowedYears: number[];
  orderable: boolean;
  /** Why it cannot be ordered now (the service's own Chinese message). */
  reason: string | null;
  openOrderNo: string | null;
  /** Past the renewal window: only the CA can help (a new application). */
  contactCa: boolean;
  /** 经办人授权: a badge when this person may not (yet) act for the certificate's organisation. */
  handlerBadge: { tone: string; label: string } | null;
  /** Orderable, with something to know first (the order will go to 客服审核). */
  note: string | null;
  /** The new validity would be capped (project maximum or the CA's own validity): said before payment. */
  capNote: string | null;
}

const HANDLER_BADGES: Readonly<Record<string, { tone: string; label: string }>> = {
  'handler-pending': { tone: 'warn', label: '经办人待审核' },
  'handler-rejected': { tone: 'revoked', label: '经办人未通过审核' },
  'handler-not-registered': { tone: 'revoked', label: '非登记经办人' },
};

export function toOptionView(option: RenewalOption, rules: ProjectRules, now: Date): OptionView {
  return {
    card: toCard(option.certificate, rules, now),
    unitYuan: option.unitPriceFen === null ? null : yuan(option.unitPriceFen),
    unitFen: option.unitPriceFen,
    allowedYears: option.allowedYears,
    orderable: option.refusal === null,
    reason: option.userMessage,
    openOrderNo: option.openOrderNo,
    contactCa: option.refusal === 'renewal-closed',
    handlerBadge: (option.refusal && HANDLER_BADGES[option.refusal]) ?? null,
    note: option.note ?? null,
    capNote: option.capNote ?? null,
  };
}

export interface OrderLineView { certificateId: number; organization: string; certType: string; project: string; maskedMedia: string; years: number; unitYuan: string; amountYuan: string }
export interface OrderView {
  orderNo: string;
  state: OrderState;
  stateLabel: string;
  stateTone: string;
  totalYuan: string;
  createdAt: string;
  expiresAt: string;
  countdown: string | null;
  payable: boolean;
  paymentMethod: string | null;
  paidAt: string | null;
  lines: OrderLineView[];
  summary: string;
}

export function toOrderView(order: OrderWithLines, certificates: Map<number, Certificate>, now: Date): OrderView {
  const lines = order.lines.map((l) => {
    const cert = certificates.get(l.certificateId);
    return {
      certificateId: l.certificateId, organization: cert?.organization ?? cert?.commonName ?? `证书 #${l.certificateId}`, certType: cert?.certType ?? '—',
      project: cert?.project ?? '', maskedMedia: maskMediaSerial(cert?.mediaSerial ?? null), years: l.years, unitYuan: yuan(l.unitPriceFen), amountYuan: yuan(l.amountFen),
    };
  });
  const pending = order.state === 'PENDING_PAYMENT';
  const countdown = pending ? countdownText(order.expiresAt, now) : null;
  return {
    orderNo: order.orderNo,
    state: order.state,
    // Past its expiry but not yet swept: already unpayable, so say so rather than 待支付.
    stateLabel: pending && !countdown ? '已超时' : STATE_LABEL[order.state],
    stateTone: STATE_TONE[order.state],
    totalYuan: yuan(order.totalFen),
    createdAt: formatDateTime(order.createdAt),
    expiresAt: formatDateTime(order.expiresAt),
    countdown,
    payable: pending && countdown !== null,
    paymentMethod: order.paymentMethod === 'wechatpay' ? '微信支付' : order.paymentMethod === 'transfer' ? '对公汇款' : null,
    paidAt: order.paidAt ? formatDateTime(order.paidAt) : null,
    lines,
    summary: summaryOf(lines),
  };
}

/** One line of the history list: the organisation, and how many certificates when more than one. */
function summaryOf(lines: OrderLineView[]): string {
  if (lines.length === 1) return `${lines[0].organization} · ${lines[0].certType}`;
  const orgs = new Set(lines.map((l) => l.organization));
  return orgs.size === 1 ? `${lines[0].organization} · ${lines.length} 张证书` : `${lines[0]?.organization ?? ''} 等 ${lines.length} 张证书`;
}
