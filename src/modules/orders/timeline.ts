import { type DataSource, In } from 'typeorm';
import { CertificateEntity } from '../certificates/entities';
import { InvoiceAttemptEntity, InvoiceLineEntity, InvoiceRequestEntity } from '../invoices/entities';
import { NoticeOutboxEntity } from '../notices/outbox';
import { WechatPayAttemptEntity } from '../payments/attempts';
import { OrderNoticeEntity } from '../payments/undelivered-notices';
import { RefundEntity } from '../refunds/entities';
import { RenewalAuditEntity, RenewalEntity } from '../renewals/entities';
import { StatementEntryEntity, TransferCodeEntity } from '../transfers/entities';
import { type Order, OrderEntity, OrderLineEntity } from './entities';

/**
 * One order's story for the console's detail page (issue 12), assembled from the tables each step already writes:
 * the order itself (created, paid, closed, refunding/refunded, fulfilled), its WeChat Pay attempts, its 对公汇款 code and
 * the statement lines that named it, its refunds, its invoices and their provider attempts, the renewals of its lines
 * with their audit steps, and the notices owed for it. Nothing new is recorded for the timeline.
 */
export type TimelineSource = 'order' | 'wechatpay' | 'transfer' | 'refund' | 'invoice' | 'renewal' | 'notice';
export interface TimelineEvent { at: Date; source: TimelineSource; title: string; detail: string; tone: 'ok' | 'warn' | 'bad' | 'info' }

export interface OrderDetail {
  order: Order;
  lines: Array<{ id: number; years: number; amountFen: number; certificateId: number; organisation: string | null; uscc: string | null; serialHex: string | null; notAfter: Date | null }>;
  transferCode: string | null;
  events: TimelineEvent[];
}

const yuan = (fen: number | null) => (fen === null ? '—' : `${(fen / 100).toFixed(2)} 元`);
const CLOSE_REASONS: Record<string, string> = { expired: '超时未支付', cancelled: '用户取消' };
const RENEWAL_STEPS: Record<string, string> = {
  entitled: '获得续期资格', challenge: '电脑端开始续期', 'csr-received': '收到证书请求', 'pop-invalid': '证书请求验证失败', 'ca-failed': 'CA 签发失败',
  issued: 'CA 已签发新证书', installed: '新证书已写入 U-KEY', 'replaced-revoked': '作废未安装的证书', 'superseded-revoked': '旧证书已注销',
};
const NOTICE_STATES: Record<string, string> = { owed: '待发送', sent: '已发送', 'not-following': '用户未关注，未送达', refused: '微信拒绝', skipped: '未配置模板，未发送', expired: '过期未发送' };
const INVOICE_STATUS: Record<string, string> = { issuing: '开票中', issued: '已开票', failed: '开票失败', 'awaiting-buyer': '待购买方确认红字', reversed: '已红冲' };

export class OrderTimeline {
  constructor(private readonly db: DataSource) {}

  async detail(orderNo: string): Promise<OrderDetail | null> {
    const em = this.db.manager;
    const order = await em.findOne(OrderEntity, { where: { orderNo } });
    if (!order) return null;
    const events: TimelineEvent[] = [];
    const add = (at: Date | null | undefined, source: TimelineSource, title: string, detail = '', tone: TimelineEvent['tone'] = 'info') => {
      if (at) events.push({ at, source, title, detail, tone });
    };

    const lines = await em.find(OrderLineEntity, { where: { orderId: order.id }, order: { id: 'ASC' } });
    const certs = lines.length ? await em.find(CertificateEntity, { where: { id: In(lines.map((l) => l.certificateId)) } }) : [];
    const certOf = new Map(certs.map((c) => [c.id, c]));
    add(order.createdAt, 'order', '创建订单', `${lines.length} 张证书，合计 ${yuan(order.totalFen)}，openid ${order.openid}`);

    const attempts = await em.find(WechatPayAttemptEntity, { where: { orderId: order.id }, order: { seq: 'ASC' } });
    for (const a of attempts) {
      add(a.createdAt, 'wechatpay', `微信支付下单（第 ${a.seq} 次）`, `商户订单号 ${a.outTradeNo}，支付截止 ${a.timeExpire.toISOString()}`);
      add(a.closedAt, 'wechatpay', `微信支付单已关闭（第 ${a.seq} 次）`, a.outTradeNo);
    }
    const code = await em.findOne(TransferCodeEntity, { where: { orderId: order.id } });
    add(code?.createdAt, 'transfer', '选择对公汇款', code ? `汇款识别码 ${code.code}，付款单位须为 ${code.organizationName}` : '');
    const statementLines = await em.find(StatementEntryEntity, { where: { orderNo }, order: { importedAt: 'ASC' } });
    for (const s of statementLines) {
      const what = `流水号 ${s.bankSerial}，付款人 ${s.payerName}，金额 ${yuan(s.amountFen)}`;
      if (s.decision === 'credited') add(s.importedAt, 'transfer', '汇款入账', what, 'ok');
      else if (s.decision === 'exception') add(s.importedAt, 'transfer', '汇款异常', `${what}；原因：${s.reason ?? '—'}`, 'bad');
      else add(s.importedAt, 'transfer', '汇款处理中', what, 'warn');
    }
    if (order.paidAt) {
      const how = order.paymentMethod === 'transfer' ? '对公汇款' : '微信支付';
      add(order.paidAt, 'order', '已支付', `${how}，实收 ${yuan(order.paidAmountFen)}，交易号 ${order.transactionId ?? '—'}`, 'ok');
    }
    add(order.closedAt, 'order', '订单关闭', CLOSE_REASONS[order.closeReason ?? ''] ?? order.closeReason ?? '');
    add(order.refundingAt, 'order', '开始退款', '续期资格已收回', 'warn');
    add(order.refundedAt, 'order', '退款完成', '', 'ok');
    add(order.fulfilledAt, 'order', '续期完成', '', 'ok');

    for (const r of await em.find(RefundEntity, { where: { orderNo }, order: { id: 'ASC' } })) {
      add(r.createdAt, 'refund', `退款申请（${r.kind}）`, `${yuan(r.amountFen)}，退款单号 ${r.outRefundNo}，原因：${r.reason}`, 'warn');
      const bad = ['ABNORMAL', 'CLOSED', 'FAILED', 'MANUAL'].includes(r.state);
      const detail = `状态 ${r.state}${r.lastError ? `，${r.lastError}` : ''}${r.resolvedBy ? `，由 ${r.resolvedBy} 处理` : ''}`;
      if (r.settledAt) add(r.settledAt, 'refund', r.state === 'SUCCESS' ? '退款到账' : '退款结束', detail, r.state === 'SUCCESS' ? 'ok' : 'bad');
      else if (bad) add(r.updatedAt, 'refund', '退款异常，需人工处理', detail, 'bad');
      add(r.resolvedAt, 'refund', '退款异常已处理', r.resolvedBy ?? '', 'ok');
    }

    const invoiceLines = await em.find(InvoiceLineEntity, { where: { orderNo } });
    const requestIds = [...new Set(invoiceLines.map((l) => l.requestId))];
    if (requestIds.length) {
      const requests = await em.find(InvoiceRequestEntity, { where: { id: In(requestIds) }, order: { id: 'ASC' } });
      const invAttempts = await em.find(InvoiceAttemptEntity, { where: { requestId: In(requestIds) }, order: { id: 'ASC' } });
      for (const req of requests) {
        const kind = req.direction === 'red' ? '红字发票' : '发票';
        add(req.createdAt, 'invoice', `申请${kind}`, `受理单号 ${req.acceptanceNo}，抬头 ${req.title}，${yuan(req.totalFen)}`);
        for (const a of invAttempts.filter((x) => x.requestId === req.id)) {
          if (a.state === 'failed' || a.state === 'refused') add(a.updatedAt, 'invoice', `${kind}开票失败（第 ${a.attemptNo} 次）`, a.reason ?? '', 'bad');
          else if (a.attemptNo > 1) add(a.createdAt, 'invoice', `${kind}重试开票（第 ${a.attemptNo} 次）`, a.startedBy);
        }
        add(req.issuedAt, 'invoice', `${kind}已开具`, `发票号码 ${req.invoiceNumber ?? '—'}`, 'ok');
        if (!req.issuedAt && req.status !== 'issuing') add(req.updatedAt, 'invoice', `${kind}：${INVOICE_STATUS[req.status] ?? req.status}`, req.failureReason ?? '', req.status === 'failed' ? 'bad' : 'info');
      }
    }

    const renewals = lines.length ? await em.find(RenewalEntity, { where: { orderLineId: In(lines.map((l) => l.id)) } }) : [];
    if (renewals.length) {
      const audit = await em.find(RenewalAuditEntity, { where: { renewalId: In(renewals.map((r) => r.id)) }, order: { seq: 'ASC' } });
      for (const entry of audit) {
        const cert = certOf.get(renewals.find((r) => r.id === entry.renewalId)?.certificateId ?? -1);
        const bad = entry.step === 'pop-invalid' || entry.step === 'ca-failed';
        add(entry.at, 'renewal', RENEWAL_STEPS[entry.step] ?? entry.step, `续期 #${entry.renewalId}${cert ? `，${cert.organization ?? ''} 证书 ${cert.serialHex}` : ''}`, bad ? 'bad' : entry.step === 'installed' ? 'ok' : 'info');
      }
    }

    const keys = [`paid-${orderNo}`, ...statementLines.map((s) => `rej-${s.bankSerial}`), ...renewals.map((r) => `renewed-${r.id}`)];
    const outbox = await em.find(NoticeOutboxEntity, { where: { noticeKey: In(keys) } });
    const noticeTitle = (key: string) => (key.startsWith('paid-') ? '订单支付成功通知' : key.startsWith('rej-') ? '汇款未通过通知' : '证书续期成功通知');
    for (const n of outbox) add(n.settledAt ?? n.createdAt, 'notice', noticeTitle(n.noticeKey), NOTICE_STATES[n.state] ?? n.state, n.state === 'sent' ? 'ok' : n.state === 'owed' ? 'warn' : 'info');
    for (const n of await em.find(OrderNoticeEntity, { where: { orderNo } })) {
      add(n.createdAt, 'notice', '通知改在订单页显示', `${n.kind}（errcode ${n.errcode}）${n.seenAt ? '，用户已查看' : '，用户尚未查看'}`);
    }

    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    return {
      order,
      lines: lines.map((l) => {
        const c = certOf.get(l.certificateId);
        return { id: l.id, years: l.years, amountFen: l.amountFen, certificateId: l.certificateId, organisation: c?.organization ?? null, uscc: c?.creditCode ?? null, serialHex: c?.serialHex ?? null, notAfter: c?.notAfter ?? null };
      }),
      transferCode: code?.code ?? null,
      events,
    };
  }
}
