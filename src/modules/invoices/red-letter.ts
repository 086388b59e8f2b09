import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, NotFoundError } from '../../lib/errors';
import { type RedReason } from '../../providers/einvoice/types';
import { openBuyer } from './buyer';
import { type InvoiceRequestRow } from './entities';
import { INVOICE_POLL_JOB } from './job-names';
import { InvoiceRepository } from './repository';
import { InvoiceService } from './service';
import { type InvoiceBuyer, validateInvoiceForm } from './schemas';

/**
 * 红冲 of a 数电票 (issue 11): a 红字确认单 (saveInvoiceRedConfirm) that issues the red invoice by itself when no
 * buyer confirmation is needed; otherwise the blue request shows 待购方确认 until the buyer confirms (then the red
 * invoice issues) or the form is revoked (已撤销: the blue invoice stands). The red invoice is a request of its own
 * (own 受理单号, negative lines, no order key), followed by the same poller as blue ones; once it is issued the blue
 * one is 已红冲 and its orders are free again: to be invoiced with a corrected title, or refunded. Both stay in history.
 */
export class RedLetters {
  private readonly repo = new InvoiceRepository();
  private readonly service: InvoiceService;

  constructor(private readonly deps: Deps) {
    this.service = new InvoiceService(deps);
  }

  async request(blueAcceptanceNo: string, by: string, reason: RedReason = 'issued-in-error'): Promise<{ redAcceptanceNo: string; state: 'issuing' | 'awaiting-buyer' | 'refused'; detail?: string }> {
    const at = new Date(this.deps.clock.nowMs());
    const { red, blue, confirmId } = await inTransaction(this.deps.db, async (tx) => {
      const blue = await this.repo.byAcceptanceNo(tx, blueAcceptanceNo);
      if (!blue || blue.direction !== 'blue') throw new NotFoundError('未找到该发票', `no blue invoice ${blueAcceptanceNo}`);
      if (blue.status !== 'issued' || !blue.invoiceNumber) throw new ConflictError('只有已开具的发票可以红冲', `invoice ${blueAcceptanceNo} is ${blue.status}`);
      const open = await this.repo.redOf(tx, blue.id);
      if (open && open.status === 'issuing') throw new ConflictError('该发票的红冲正在处理中', `red ${open.acceptanceNo} of ${blueAcceptanceNo} is under way`);
      const lines = (await this.repo.linesOf(tx, [blue.id])).map(({ id: _id, requestId: _r, ...l }) => ({ ...l, orderKey: null, totalFen: -l.totalFen, amountFen: -l.amountFen, taxFen: -l.taxFen }));
      const red = await this.service.insertWithFreshNumber(tx, {
        openid: blue.openid, direction: 'red', reversesId: blue.id, replacesId: null, buyerKind: blue.buyerKind, title: blue.title, buyerSealed: blue.buyerSealed,
        totalFen: -blue.totalFen, amountFen: -blue.amountFen, taxFen: -blue.taxFen, status: 'issuing', failureReason: null, attemptNo: 1, kind: null, invoiceCode: null,
        invoiceNumber: null, issuedAt: null, redConfirmId: null, redState: null, sandbox: blue.sandbox, contactsErasedAt: null, createdAt: at, updatedAt: at,
      }, lines, by);
      // Our id for the form: the red request's 受理单号 (unique, ≤ 32), so a resend is the same form at the provider.
      const confirmId = `RC${red.acceptanceNo}`;
      await this.repo.moveRequest(tx, blue.id, ['issued'], { redConfirmId: confirmId, redState: 'applying', updatedAt: at });
      return { red, blue: { ...blue, redConfirmId: confirmId }, confirmId };
    });
    const attempt = (await this.repo.currentAttempt(this.deps.db.manager, red))!;
    const buyer = openBuyer(this.deps.pii, blue, { actor: by, reason: 'invoice-red-letter' });
    const outcome = await this.deps.einvoice.requestRedLetter({
      confirmId, attemptKey: attempt.attemptKey, reason,
      blue: { kind: blue.kind ?? 'digital', number: blue.invoiceNumber!, issuedAt: blue.issuedAt!, ...(blue.invoiceCode ? { code: blue.invoiceCode } : {}) },
      buyer: { name: buyer.title, email: buyer.email, ...(buyer.taxId ? { taxId: buyer.taxId } : {}), ...(buyer.mobile ? { mobile: buyer.mobile } : {}) },
    });
    const em = this.deps.db.manager;
    if (outcome.kind === 'refused') {
      await this.repo.moveAttempt(em, attempt.id, ['pending'], { state: 'refused', reason: `${outcome.reason}（${outcome.code}）`.slice(0, 200), updatedAt: at });
      await this.repo.moveRequest(em, red.id, ['issuing'], { status: 'failed', failureReason: `红字确认单未通过：${outcome.reason}`.slice(0, 200), updatedAt: at });
      await this.repo.moveRequest(em, blue.id, ['issued'], { redState: 'refused', updatedAt: at });
      this.deps.logger.error({ blue: blueAcceptanceNo, code: outcome.code, reason: outcome.reason }, 'red letter refused');
      return { redAcceptanceNo: red.acceptanceNo, state: 'refused', detail: `${outcome.code} ${outcome.reason}` };
    }
    if (outcome.kind === 'awaiting-buyer') await this.repo.moveRequest(em, blue.id, ['issued'], { status: 'awaiting-buyer', redState: 'awaiting-buyer', updatedAt: at });
    await this.repo.moveAttempt(em, attempt.id, ['pending'], { state: 'accepted', serial: outcome.kind === 'issuing' ? outcome.serial ?? null : null, updatedAt: at });
    await this.deps.jobs.enqueue(INVOICE_POLL_JOB, { attemptKey: attempt.attemptKey, round: 0 }, { jobId: `${INVOICE_POLL_JOB}:${attempt.attemptKey}:0`, delayMs: this.deps.config.einvoice.pollMs, attempts: 5 });
    this.deps.logger.info({ blue: blueAcceptanceNo, red: red.acceptanceNo, state: outcome.kind, by }, 'red letter requested');
    return { redAcceptanceNo: red.acceptanceNo, state: outcome.kind };
  }

  /** A new blue request for the orders of a reversed one, with the corrected title (the 重开 after 红冲). */
  async reissue(reversedAcceptanceNo: string, by: string, corrections: Partial<InvoiceBuyer> | null): Promise<string> {
    const old = await this.repo.byAcceptanceNo(this.deps.db.manager, reversedAcceptanceNo);
    if (!old || old.status !== 'reversed') throw new ConflictError('只有已红冲的发票可以重开', `invoice ${reversedAcceptanceNo} is ${old?.status ?? 'missing'}`);
    const lines = await this.repo.linesOf(this.deps.db.manager, [old.id]);
    const merged = validateInvoiceForm({ ...openBuyer(this.deps.pii, old, { actor: by, reason: 'invoice-reissue' }), ...(corrections ?? {}) });
    if (!merged.ok) throw new ConflictError(Object.values(merged.errors).join('；'), merged.detail);
    const buyer = merged.form;
    const result = await this.service.request(old.openid, { orderNos: lines.map((l) => l.orderNo), buyer, saveTitle: false });
    await this.repo.moveRequest(this.deps.db.manager, (await this.repo.byAcceptanceNo(this.deps.db.manager, result.acceptanceNo))!.id, ['issuing'], { replacesId: old.id });
    return result.acceptanceNo;
  }
}

export type { InvoiceRequestRow };
