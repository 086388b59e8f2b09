import { type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { type Order } from '../orders/entities';
import { splitTaxInclusive, taxRatePercent } from './amounts';
import { handlerActor, openBuyer, sealBuyer } from './buyer';
import { type InvoiceRequestRow } from './entities';
import { INVOICE_MAIL_JOB, INVOICE_SUBMIT_JOB, submitJobId } from './job-names';
import { openLinkToken } from './links';
import { attemptKey, newAcceptanceNo } from './numbers';
import { InvoiceRepository, type OrderForInvoice } from './repository';
import { type InvoiceBuyer, MAX_ORDERS_PER_INVOICE, ORDER_SELECTION_MESSAGES, titleDiffersFromOrganisation } from './schemas';
import { SavedTitles } from './titles';
import {
  INVOICE_STATUS_LABELS, type InvoiceableOrder, type InvoiceDetail, type InvoiceHistoryPage, invoiceLinkUrl, type InvoiceRequestInput,
  type InvoiceRequestResult, type InvoiceSummary, type TitleSuggestions,
} from './types';

export * from './types';

const MAX_PAGE_SIZE = 50;
/** Renewals are ordered per certificate; the line's quantity is the number of certificates, its unit 张. */
const LINE_UNIT = '张';

/** The views and the buyer's commands of 我的发票 (see types.ts). Issuance itself: issuance.ts, through the queue. */
export class InvoiceService {
  private readonly repo = new InvoiceRepository();
  private readonly titles: SavedTitles;

  constructor(private readonly deps: Deps) {
    this.titles = new SavedTitles(deps);
  }

  async listInvoiceable(openid: string): Promise<InvoiceableOrder[]> {
    const em = this.deps.db.manager;
    const described = await this.repo.describe(em, await this.repo.invoiceableOrders(em, openid));
    return described.map(toInvoiceable);
  }

  async history(openid: string, page = 1, pageSize = 20): Promise<InvoiceHistoryPage> {
    const safePage = Number.isSafeInteger(page) && page >= 1 ? page : 1;
    const size = Math.min(Math.max(Number.isSafeInteger(pageSize) ? pageSize : 20, 1), MAX_PAGE_SIZE);
    const em = this.deps.db.manager;
    const { rows, total } = await this.repo.historyOf(em, openid, safePage, size);
    const lines = await this.repo.linesOf(em, rows.map((r) => r.id));
    const items = rows.map((row) => summaryOf(row, lines.filter((l) => l.requestId === row.id).map((l) => l.orderNo)));
    return { items, page: safePage, pageSize: size, total, hasMore: safePage * size < total };
  }

  async request(openid: string, input: InvoiceRequestInput): Promise<InvoiceRequestResult> {
    const orderNos = [...new Set(input.orderNos)];
    if (orderNos.length === 0) throw new ValidationError(ORDER_SELECTION_MESSAGES.none, 'invoice request without orders');
    if (orderNos.length > MAX_ORDERS_PER_INVOICE) throw new ValidationError(ORDER_SELECTION_MESSAGES.tooMany, `invoice request for ${orderNos.length} orders`);
    const at = this.now();
    let result: { request: InvoiceRequestRow; created: boolean; organisations: string[] };
    try {
      result = await inTransaction(this.deps.db, (tx) => this.record(tx, openid, orderNos, input, at));
    } catch (err) {
      // Two taps at once: the other transaction's line took the order first. Answer with its request.
      if (!isUniqueViolation(err)) throw err;
      result = await inTransaction(this.deps.db, (tx) => this.record(tx, openid, orderNos, input, at));
    }
    const { request, created, organisations } = result;
    if (created) {
      const key = attemptKey(request.acceptanceNo, 1);
      await this.deps.jobs.enqueue(INVOICE_SUBMIT_JOB, { attemptKey: key }, { jobId: submitJobId(key) })
        .catch((err) => this.deps.logger.warn({ err, acceptanceNo: request.acceptanceNo }, 'could not queue the invoice submission; the sweep queues it'));
      this.deps.logger.info({ acceptanceNo: request.acceptanceNo, orders: orderNos.length }, 'invoice requested');
    }
    const differs = organisations.length > 0 && organisations.every((org) => titleDiffersFromOrganisation(input.buyer.title, org));
    return { acceptanceNo: request.acceptanceNo, created, titleWarning: differs ? `发票抬头与证书上的单位名称（${organisations[0]}）不一致，请确认无误` : null };
  }

  /** The request's transaction: the same orders again → the same request; otherwise every order must be invoiceable now. */
  private async record(tx: EntityManager, openid: string, orderNos: string[], input: InvoiceRequestInput, at: Date) {
    const found = await this.repo.ordersForInvoice(tx, orderNos, true);
    // In the order the buyer chose them: the invoice's lines read in that order.
    const own = orderNos.map((no) => found.find((f) => f.order.orderNo === no && f.order.openid === openid)).filter((f): f is OrderForInvoice => !!f);
    const organisations = [...new Set(own.map((f) => f.organisation).filter((o): o is string => !!o))];
    if (own.length !== orderNos.length) throw new NotFoundError('所选订单不存在，请刷新页面后重新选择', `invoice request by ${handlerActor(openid)}: orders not found or not theirs: ${orderNos.filter((no) => !own.some((f) => f.order.orderNo === no)).join(',')}`);
    const standing = await this.repo.standingLines(tx, orderNos);
    if (standing.length > 0) {
      const requestIds = [...new Set(standing.map((l) => l.requestId))];
      const existing = requestIds.length === 1 ? await this.repo.byId(tx, requestIds[0]!) : null;
      const sameSet = existing && existing.openid === openid && standing.length === orderNos.length && (await this.repo.linesOf(tx, [existing.id])).filter((l) => l.orderKey).length === orderNos.length;
      if (existing && sameSet) return { request: existing, created: false, organisations };
      throw new ConflictError('所选订单中有已申请开票的订单，请刷新页面后查看开票历史', `orders already invoiced: ${standing.map((l) => l.orderNo).join(',')}`);
    }
    for (const { order } of own) refuseUninvoiceable(order);
    const lines = own.map((f) => {
      const totalFen = f.order.paidAmountFen ?? f.order.totalFen;
      const split = splitTaxInclusive(totalFen, f.taxRateBp);
      return { orderNo: f.order.orderNo, orderKey: f.order.orderNo, itemName: f.itemName, taxCode: f.taxCode, taxRateBp: f.taxRateBp, quantity: Math.max(f.certificateCount, 1), totalFen, ...split };
    });
    const sum = (k: 'totalFen' | 'amountFen' | 'taxFen') => lines.reduce((s, l) => s + l[k], 0);
    const request = await this.insertWithFreshNumber(tx, {
      openid, direction: 'blue', reversesId: null, replacesId: null, buyerKind: input.buyer.buyerKind, title: input.buyer.title, buyerSealed: sealBuyer(this.deps.pii, input.buyer),
      totalFen: sum('totalFen'), amountFen: sum('amountFen'), taxFen: sum('taxFen'), status: 'issuing', failureReason: null, attemptNo: 1, kind: null, invoiceCode: null,
      invoiceNumber: null, issuedAt: null, redConfirmId: null, redState: null, sandbox: this.deps.config.sandbox, contactsErasedAt: null, createdAt: at, updatedAt: at,
    }, lines);
    if (input.saveTitle ?? true) await this.titles.save(tx, openid, input.buyer, at);
    return { request, created: true, organisations };
  }

  /** Inserts a request (blue or red) and its first attempt under a new 受理单号 (a clash of the random part draws again). */
  async insertWithFreshNumber(tx: EntityManager, row: Omit<InvoiceRequestRow, 'id' | 'acceptanceNo'>, lines: Parameters<InvoiceRepository['insertRequest']>[2], startedBy = 'system'): Promise<InvoiceRequestRow> {
    for (let i = 0; ; i++) {
      const acceptanceNo = newAcceptanceNo(this.deps.clock, this.deps.random);
      if (i < 5 && await this.repo.byAcceptanceNo(tx, acceptanceNo)) continue;
      const request = await this.repo.insertRequest(tx, { ...row, acceptanceNo }, lines);
      await this.repo.insertAttempt(tx, { requestId: request.id, attemptNo: 1, attemptKey: attemptKey(acceptanceNo, 1), state: 'pending', serial: null, reason: null, polls: 0, startedBy, createdAt: row.createdAt, updatedAt: row.createdAt });
      return request;
    }
  }

  async detail(openid: string, acceptanceNo: string): Promise<InvoiceDetail> {
    const em = this.deps.db.manager;
    const row = await this.owned(em, openid, acceptanceNo);
    const lines = await this.repo.linesOf(em, [row.id]);
    const related = row.direction === 'red' && row.reversesId ? await this.repo.byId(em, row.reversesId) : await this.repo.redOf(em, row.id);
    const link = await this.repo.liveLink(em, row.id);
    const token = link ? openLinkToken(this.deps.pii, link.tokenSealed, handlerActor(openid)) : null;
    const files = await this.repo.filesOf(em, row.id);
    const mail = await this.repo.lastMail(em, row.id);
    return {
      ...summaryOf(row, lines.map((l) => l.orderNo)),
      buyer: openBuyer(this.deps.pii, row, { actor: handlerActor(openid), reason: 'invoice-detail' }),
      lines: lines.map((l) => ({ orderNo: l.orderNo, itemName: l.itemName, quantity: l.quantity, taxRateBp: l.taxRateBp, taxRateLabel: taxRatePercent(l.taxRateBp), totalFen: l.totalFen, amountFen: l.amountFen, taxFen: l.taxFen })),
      taxFen: row.taxFen, amountFen: row.amountFen,
      failureReason: row.status === 'failed' ? row.failureReason : null,
      files: files.map((f) => ({ kind: f.kind, contentType: f.contentType, sizeBytes: f.sizeBytes, url: token ? `/i/${token}/${f.kind}` : null })),
      link: token ? invoiceLinkUrl(this.deps.config.publicBaseUrl, token) : null,
      relatedAcceptanceNo: related?.acceptanceNo ?? null,
      redLetterState: row.redState === 'awaiting-buyer' || row.redState === 'revoked' ? row.redState : null,
      emailState: mail ? (mail.state === 'owed' ? 'sending' : mail.state) : null,
    };
  }

  async resendEmail(openid: string, acceptanceNo: string, email?: string): Promise<void> {
    const em = this.deps.db.manager;
    const row = await this.owned(em, openid, acceptanceNo);
    if (!row.issuedAt || !(await this.repo.file(em, row.id, 'pdf'))) throw new ConflictError('发票开具后才能发送邮件', `resend ${acceptanceNo}: not issued`);
    const to = email?.trim() || openBuyer(this.deps.pii, row, { actor: handlerActor(openid), reason: 'invoice-resend' }).email;
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(to)) throw new ValidationError('邮箱格式不正确，请检查后重新填写', `resend ${acceptanceNo}: bad address`);
    await queueInvoiceMail(this.deps, row, to, `resend-${row.acceptanceNo}-${this.now().getTime()}`);
  }

  async titleSuggestions(openid: string, orderNos: string[] = []): Promise<TitleSuggestions> {
    const em = this.deps.db.manager;
    const invoiceable = await this.repo.describe(em, await this.repo.invoiceableOrders(em, openid));
    const chosen = orderNos.length ? invoiceable.filter((f) => orderNos.includes(f.order.orderNo)) : invoiceable;
    const organisations = [...new Set(chosen.map((f) => f.organisation).filter((o): o is string => !!o))];
    const recent = await this.titles.list(em, openid);
    const withOrg = chosen.find((f) => f.organisation);
    const saved = withOrg ? recent.find((t) => !titleDiffersFromOrganisation(t.buyer.title, withOrg.organisation!)) : recent[0];
    const prefill = saved?.buyer ?? (withOrg ? { buyerKind: 'organisation' as const, title: withOrg.organisation!, ...(withOrg.creditCode ? { taxId: withOrg.creditCode } : {}) } : {});
    return { prefill, organisations, recent };
  }

  deleteSavedTitle(openid: string, id: number): Promise<boolean> {
    return this.titles.delete(this.deps.db.manager, openid, id);
  }

  deleteAllSavedTitles(openid: string): Promise<number> {
    return this.titles.deleteAll(this.deps.db.manager, openid);
  }

  private async owned(em: EntityManager, openid: string, acceptanceNo: string): Promise<InvoiceRequestRow> {
    const row = await this.repo.byAcceptanceNo(em, acceptanceNo);
    if (!row || row.openid !== openid) throw new NotFoundError('未找到该开票申请', `invoice request ${acceptanceNo} not found for ${handlerActor(openid)}`);
    return row;
  }

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }
}

/** Records an e-mail of the request's PDF as owed (after the commit the job sends it; the sweep picks up lost ones). */
export async function queueInvoiceMail(deps: Pick<Deps, 'db' | 'jobs' | 'pii' | 'clock' | 'logger'>, row: InvoiceRequestRow, to: string, mailKey: string, em?: EntityManager): Promise<void> {
  const at = new Date(deps.clock.nowMs());
  await new InvoiceRepository().recordMail(em ?? deps.db.manager, {
    requestId: row.id, mailKey: mailKey.slice(0, 64), toSealed: deps.pii.encrypt(to, 'invoice-mail-to'), state: 'owed', attempts: 0, lastError: null, messageId: null, createdAt: at, sentAt: null,
  });
  if (!em) await enqueueInvoiceMail(deps, mailKey);
}

export function enqueueInvoiceMail(deps: Pick<Deps, 'jobs' | 'logger'>, mailKey: string): Promise<void> {
  return deps.jobs.enqueue(INVOICE_MAIL_JOB, { mailKey: mailKey.slice(0, 64) }, { jobId: `${INVOICE_MAIL_JOB}:${mailKey.slice(0, 64)}`, attempts: 5 })
    .catch((err) => deps.logger.warn({ err, mailKey }, 'could not queue the invoice e-mail; the sweep queues it'));
}

function refuseUninvoiceable(order: Order): void {
  if (order.state === 'PAID' || order.state === 'FULFILLED') return;
  const message = order.state === 'REFUNDING' || order.state === 'REFUNDED' ? '该订单已退款，不能开具发票'
    : order.state === 'CLOSED' ? '该订单已关闭，不能开具发票' : '该订单尚未支付，支付后才能开具发票';
  throw new ConflictError(message, `order ${order.orderNo} is ${order.state}: not invoiceable`);
}

function toInvoiceable(f: OrderForInvoice): InvoiceableOrder {
  return {
    orderNo: f.order.orderNo, state: f.order.state as InvoiceableOrder['state'], amountFen: f.order.paidAmountFen ?? f.order.totalFen,
    paidAt: f.order.paidAt ?? f.order.updatedAt, organisation: f.organisation, creditCode: f.creditCode, certificateCount: f.certificateCount,
  };
}

export function summaryOf(row: InvoiceRequestRow, orderNos: string[]): InvoiceSummary {
  return {
    acceptanceNo: row.acceptanceNo, direction: row.direction, title: row.title, buyerKind: row.buyerKind, status: row.status,
    statusLabel: row.direction === 'red' && row.status === 'issued' ? '已开具（红字）' : INVOICE_STATUS_LABELS[row.status],
    totalFen: row.totalFen, orderNos, invoiceNumber: row.invoiceNumber, invoiceCode: row.invoiceCode, kind: row.kind, issuedAt: row.issuedAt, requestedAt: row.createdAt,
  };
}

export { LINE_UNIT };
