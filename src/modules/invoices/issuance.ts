import { createHash } from 'node:crypto';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, NotFoundError } from '../../lib/errors';
import { type EInvoiceFile, type EInvoiceLine, type EInvoiceSubmitRequest, EInvoiceUpstreamError, type IssuedInvoice, type QueryOutcome } from '../../providers/einvoice/types';
import { enqueueOwedNotice, NoticeOutbox, type OwedNotice } from '../notices/outbox';
import { openBuyer, providerBuyer, sealBuyer } from './buyer';
import { type InvoiceAttemptRow, type InvoiceFileKind, type InvoiceRequestRow } from './entities';
import { INVOICE_ISSUED_NOTICE_JOB, INVOICE_POLL_JOB, INVOICE_SUBMIT_JOB, submitJobId } from './job-names';
import { linkTokenHash, newLinkToken, sealLinkToken } from './links';
import { attemptKey as makeAttemptKey, MAX_ATTEMPTS } from './numbers';
import { InvoiceRepository } from './repository';
import { type InvoiceBuyer, validateInvoiceForm } from './schemas';
import { enqueueInvoiceMail, queueInvoiceMail } from './service';

/** 开票成功 is owed once per request (its key is the client_msg_id base and the outbox row's key). */
export const invoiceIssuedNotice = (acceptanceNo: string): OwedNotice => ({ key: `inv-${acceptanceNo}`, job: INVOICE_ISSUED_NOTICE_JOB, payload: { acceptanceNo } });
export const issuedMailKey = (acceptanceNo: string) => `issued-${acceptanceNo}`;

const CONTENT_TYPES: Record<InvoiceFileKind, string> = { pdf: 'application/pdf', ofd: 'application/ofd', xml: 'application/xml' };
const MAX_POLL_DELAY_MS = 5 * 60_000;
const SYSTEM = { actor: 'system:invoice-issuance', reason: 'invoice-submit' };

/**
 * The asynchronous pipeline (issue 11 "Issuance"), driven by the job queue: submit an attempt, then poll with a
 * doubling delay until it is issued or failed. The attempt key is the provider's order number: a repeated submit
 * of the same attempt is answered `already-submitted` and becomes a query, never a second invoice; status 24
 * (issued, seal failed) is `reInvoice`d. Whoever sees the invoice issued first records it: the move out of
 * pending/accepted is a guarded UPDATE, so two instances polling one attempt record it once (files, link, e-mail
 * and 开票成功 are written in that same transaction, and sent after the commit).
 */
export class InvoiceIssuance {
  private readonly repo = new InvoiceRepository();

  constructor(private readonly deps: Deps) {}

  async submit(attemptKey: string): Promise<void> {
    const { attempt, request } = await this.load(attemptKey);
    if (attempt.state === 'accepted') return this.schedulePoll(attempt, attempt.polls);
    if (attempt.state !== 'pending' || request.status !== 'issuing' || request.attemptNo !== attempt.attemptNo) return;
    const outcome = request.direction === 'red' ? await this.submitRed(request, attempt) : await this.deps.einvoice.submit(await this.submission(request, attempt));
    if (outcome.kind === 'accepted') {
      await this.repo.moveAttempt(this.deps.db.manager, attempt.id, ['pending'], { state: 'accepted', serial: outcome.serial.slice(0, 64), updatedAt: this.now() });
      return this.schedulePoll(attempt, 0);
    }
    if (outcome.kind === 'already-submitted') {
      // Sent before (the answer was lost): what the provider has is the truth; never submit it again.
      this.deps.logger.info({ attemptKey }, 'invoice attempt already submitted: querying it');
      return this.apply(attempt, request, await this.deps.einvoice.query({ attemptKey }), 0);
    }
    await this.fail(attempt, request, 'refused', `${outcome.reason}（${outcome.code}）`);
  }

  async poll(attemptKey: string, round: number): Promise<void> {
    const { attempt, request } = await this.load(attemptKey);
    if (attempt.state !== 'accepted' && attempt.state !== 'pending') return;
    const outcome = await this.deps.einvoice.query(attempt.serial ? { serial: attempt.serial } : { attemptKey });
    await this.apply(attempt, request, outcome, round);
  }

  private async apply(attempt: InvoiceAttemptRow, request: InvoiceRequestRow, outcome: QueryOutcome, round: number): Promise<void> {
    const em = this.deps.db.manager;
    switch (outcome.state) {
      case 'issued':
        return this.complete(attempt, request, outcome);
      case 'failed':
        return this.fail(attempt, request, 'failed', outcome.reason);
      case 'in-progress':
        await this.repo.moveAttempt(em, attempt.id, ['pending', 'accepted'], { state: 'accepted', serial: outcome.serial || attempt.serial, polls: round + 1, updatedAt: this.now() });
        return this.schedulePoll(attempt, round + 1);
      case 'sealing-failed': {
        // Status 24: the bureau issued it, the seal failed. Ask for the seal again, never a new invoice.
        const re = await this.deps.einvoice.reInvoice(outcome.serial);
        this.deps.logger.warn({ attemptKey: attempt.attemptKey, reason: outcome.reason, reInvoice: re.kind }, 'invoice sealing failed: reInvoice');
        if (re.kind === 'refused') return this.fail(attempt, request, 'failed', `签章失败，重新签章未成功：${re.reason}（${re.code}）`);
        await this.repo.moveAttempt(em, attempt.id, ['pending', 'accepted'], { state: 'accepted', serial: outcome.serial, reason: outcome.reason.slice(0, 200), polls: round + 1, updatedAt: this.now() });
        return this.schedulePoll(attempt, round + 1);
      }
      case 'not-found':
        // A red invoice appears only once its 红字确认单 is settled: follow the form meanwhile.
        if (request.direction === 'red') return this.followRedConfirm(attempt, request, round);
        // The provider never received it: the same attempt (same key) may be submitted again.
        await this.repo.moveAttempt(em, attempt.id, ['pending', 'accepted'], { state: 'pending', updatedAt: this.now() });
        await this.deps.jobs.enqueue(INVOICE_SUBMIT_JOB, { attemptKey: attempt.attemptKey }, { jobId: `${submitJobId(attempt.attemptKey)}:r${round}`, delayMs: this.pollDelay(round) });
        return;
    }
  }

  private async complete(attempt: InvoiceAttemptRow, request: InvoiceRequestRow, issued: IssuedInvoice): Promise<void> {
    // Their URLs expire: our own copy first, outside the transaction (a slow download must not hold locks).
    const files = await this.download(issued.files);
    const at = this.now();
    let mailTo: string | null = null;
    const won = await inTransaction(this.deps.db, async (tx) => {
      if (!(await this.repo.moveAttempt(tx, attempt.id, ['pending', 'accepted'], { state: 'issued', serial: issued.serial.slice(0, 64), reason: null, updatedAt: at }))) return false;
      await this.repo.moveRequest(tx, request.id, ['issuing', 'failed'], {
        status: 'issued', kind: issued.kind, invoiceNumber: issued.number.slice(0, 20), invoiceCode: issued.code?.slice(0, 12) ?? null, issuedAt: issued.issuedAt, failureReason: null, updatedAt: at,
      });
      for (const [kind, bytes] of files) {
        await this.repo.insertFile(tx, { requestId: request.id, kind, contentType: CONTENT_TYPES[kind], bytes, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), createdAt: at });
      }
      const token = newLinkToken(this.deps.random);
      await this.repo.insertLink(tx, { requestId: request.id, tokenHash: linkTokenHash(token), tokenSealed: sealLinkToken(this.deps.pii, token), revokedAt: null, revokedBy: null, opens: 0, createdAt: at });
      if (request.direction === 'red' && request.reversesId) {
        // The red invoice stands: the blue one is reversed and its orders may be invoiced again (or refunded).
        await this.repo.moveRequest(tx, request.reversesId, ['issued', 'awaiting-buyer'], { status: 'reversed', redState: 'confirmed', updatedAt: at });
        await this.repo.releaseLines(tx, request.reversesId);
      } else {
        await NoticeOutbox.record(tx, invoiceIssuedNotice(request.acceptanceNo), at);
      }
      if (files.has('pdf')) {
        mailTo = openBuyer(this.deps.pii, request, SYSTEM).email;
        await queueInvoiceMail(this.deps, request, mailTo, issuedMailKey(request.acceptanceNo), tx);
      }
      return true;
    });
    if (!won) return;
    this.deps.logger.info({ acceptanceNo: request.acceptanceNo, direction: request.direction, number: issued.number }, 'invoice issued');
    if (mailTo) await enqueueInvoiceMail(this.deps, issuedMailKey(request.acceptanceNo));
    if (request.direction === 'blue') await enqueueOwedNotice(this.deps, invoiceIssuedNotice(request.acceptanceNo)).catch((err) => this.deps.logger.warn({ err }, 'could not queue 开票成功; the outbox pass sends it'));
  }

  private async fail(attempt: InvoiceAttemptRow, request: InvoiceRequestRow, state: 'failed' | 'refused', reason: string): Promise<void> {
    const at = this.now();
    const moved = await inTransaction(this.deps.db, async (tx) => {
      if (!(await this.repo.moveAttempt(tx, attempt.id, ['pending', 'accepted'], { state, reason: reason.slice(0, 200), updatedAt: at }))) return false;
      await this.repo.moveRequest(tx, request.id, ['issuing'], { status: 'failed', failureReason: reason.slice(0, 200), updatedAt: at });
      return true;
    });
    if (moved) this.deps.logger.error({ acceptanceNo: request.acceptanceNo, attemptKey: attempt.attemptKey, reason }, 'invoice attempt failed: operator retry (npm run invoices:retry)');
  }

  /**
   * An operator's retry of a failed request: a NEW attempt (new provider order number), with the buyer's data
   * corrected where given. Returns the new attempt key.
   */
  async retry(acceptanceNo: string, by: string, corrections: Partial<InvoiceBuyer> = {}): Promise<string> {
    const at = this.now();
    const key = await inTransaction(this.deps.db, async (tx) => {
      const request = await this.repo.byAcceptanceNo(tx, acceptanceNo);
      if (!request) throw new NotFoundError('未找到该开票申请', `no invoice request ${acceptanceNo}`);
      if (request.status !== 'failed') throw new ConflictError('只有开具失败的申请可以重试', `request ${acceptanceNo} is ${request.status}`);
      if (request.attemptNo >= MAX_ATTEMPTS) throw new ConflictError('重试次数已达上限', `request ${acceptanceNo} has ${request.attemptNo} attempts`);
      const patch: Partial<InvoiceRequestRow> = { status: 'issuing', failureReason: null, attemptNo: request.attemptNo + 1, updatedAt: at };
      if (Object.keys(corrections).length) {
        const merged = validateInvoiceForm({ ...openBuyer(this.deps.pii, request, { actor: by, reason: 'invoice-retry' }), ...corrections });
        if (!merged.ok) throw new ConflictError(Object.values(merged.errors).join('；'), merged.detail);
        Object.assign(patch, { title: merged.form.title, buyerKind: merged.form.buyerKind, buyerSealed: sealBuyer(this.deps.pii, merged.form) });
      }
      if (!(await this.repo.moveRequest(tx, request.id, ['failed'], patch))) throw new ConflictError('申请状态已变化，请刷新', `request ${acceptanceNo} moved meanwhile`);
      const next = makeAttemptKey(acceptanceNo, request.attemptNo + 1);
      await this.repo.insertAttempt(tx, { requestId: request.id, attemptNo: request.attemptNo + 1, attemptKey: next, state: 'pending', serial: null, reason: null, polls: 0, startedBy: by.slice(0, 64), createdAt: at, updatedAt: at });
      return next;
    });
    await this.deps.jobs.enqueue(INVOICE_SUBMIT_JOB, { attemptKey: key }, { jobId: submitJobId(key) });
    this.deps.logger.info({ acceptanceNo, attemptKey: key, by }, 'invoice retried by an operator');
    return key;
  }

  /** The periodic pass: attempts nobody followed for a while (their job died with a process) are queued again. */
  async followStale(now: Date, limit = 100): Promise<number> {
    const stale = await this.repo.staleAttempts(this.deps.db.manager, new Date(now.getTime() - Math.max(2 * MAX_POLL_DELAY_MS, 60_000)), limit);
    for (const attempt of stale) {
      if (attempt.state === 'pending') await this.deps.jobs.enqueue(INVOICE_SUBMIT_JOB, { attemptKey: attempt.attemptKey }, { jobId: `${submitJobId(attempt.attemptKey)}:s${now.getTime()}` });
      else await this.schedulePoll(attempt, attempt.polls);
    }
    return stale.length;
  }

  /**
   * The red invoice is not there yet: ask how its 红字确认单 stands. Awaiting the buyer → keep following (the blue
   * request shows 待购方确认); confirmed but not issued by itself → issue it (fastInvoiceRed); revoked (the buyer
   * refused, or 72 hours passed) → the blue invoice stands again and the red request ends as 已撤销.
   */
  private async followRedConfirm(attempt: InvoiceAttemptRow, request: InvoiceRequestRow, round: number): Promise<void> {
    const em = this.deps.db.manager;
    const blue = request.reversesId ? await this.repo.byId(em, request.reversesId) : null;
    if (!blue?.redConfirmId) throw new Error(`red request ${request.acceptanceNo} has no 红字确认单`);
    const form = await this.deps.einvoice.queryRedConfirm(blue.redConfirmId);
    const at = this.now();
    if (form.state === 'revoked' || form.state === 'failed') {
      await this.fail(attempt, request, 'failed', `红字确认单已撤销：${form.reason}`);
      await this.repo.moveRequest(em, blue.id, ['awaiting-buyer', 'issued'], { status: 'issued', redState: 'revoked', updatedAt: at });
      return;
    }
    if (form.state === 'awaiting-buyer') await this.repo.moveRequest(em, blue.id, ['issued'], { status: 'awaiting-buyer', redState: 'awaiting-buyer', updatedAt: at });
    if (form.state === 'confirmed' && !form.redSerial) {
      const outcome = await this.submitRed(request, attempt);
      if (outcome.kind === 'refused') return this.fail(attempt, request, 'refused', `${outcome.reason}（${outcome.code}）`);
    }
    await this.repo.moveAttempt(em, attempt.id, ['pending', 'accepted'], { polls: round + 1, updatedAt: at });
    return this.schedulePoll(attempt, round + 1);
  }

  /** A red invoice for a confirmed 红字确认单 that did not issue by itself (Nuonuo fastInvoiceRed). */
  private async submitRed(request: InvoiceRequestRow, attempt: InvoiceAttemptRow) {
    const blue = request.reversesId ? await this.repo.byId(this.deps.db.manager, request.reversesId) : null;
    if (!blue?.redConfirmId || !blue.invoiceNumber || !blue.issuedAt || !blue.kind) throw new Error(`red request ${request.acceptanceNo} has no confirmed blue invoice`);
    return this.deps.einvoice.issueRed({
      confirmId: blue.redConfirmId, attemptKey: attempt.attemptKey,
      blue: { kind: blue.kind, number: blue.invoiceNumber, issuedAt: blue.issuedAt, ...(blue.invoiceCode ? { code: blue.invoiceCode } : {}) },
    });
  }

  /** What the provider is given: the buyer as stored now and one line per order. */
  async submission(request: InvoiceRequestRow, attempt: InvoiceAttemptRow): Promise<EInvoiceSubmitRequest> {
    const lines = await this.repo.linesOf(this.deps.db.manager, [request.id]);
    const invoiceLines: EInvoiceLine[] = lines.map((l) => ({
      itemName: l.itemName, taxClassificationCode: l.taxCode, unit: '张', quantity: l.quantity, taxRate: l.taxRateBp, totalFen: l.totalFen, amountFen: l.amountFen, taxFen: l.taxFen,
    }));
    return {
      acceptanceNo: request.acceptanceNo, attemptKey: attempt.attemptKey, buyer: providerBuyer(openBuyer(this.deps.pii, request, SYSTEM)), lines: invoiceLines,
      requestedAt: request.createdAt, remark: `订单号 ${lines.map((l) => l.orderNo).join('、')}`.slice(0, 200),
    };
  }

  private async schedulePoll(attempt: InvoiceAttemptRow, round: number): Promise<void> {
    await this.deps.jobs.enqueue(INVOICE_POLL_JOB, { attemptKey: attempt.attemptKey, round }, { jobId: `${INVOICE_POLL_JOB}:${attempt.attemptKey}:${round}`, delayMs: this.pollDelay(round), attempts: 5 });
  }

  private pollDelay(round: number): number {
    return Math.min(this.deps.config.einvoice.pollMs * 2 ** Math.min(round, 12), MAX_POLL_DELAY_MS);
  }

  private async download(files: IssuedInvoice['files']): Promise<Map<InvoiceFileKind, Buffer>> {
    const out = new Map<InvoiceFileKind, Buffer>();
    for (const kind of ['pdf', 'ofd', 'xml'] as const) {
      const file = files[kind];
      if (file) out.set(kind, await this.fetchFile(kind, file));
    }
    return out;
  }

  private async fetchFile(kind: InvoiceFileKind, file: EInvoiceFile): Promise<Buffer> {
    if ('bytes' in file) return file.bytes;
    let res: Response;
    try {
      res = await fetch(file.url, { signal: AbortSignal.timeout(30_000) });
    } catch (cause) {
      throw new EInvoiceUpstreamError('file-download', `invoice ${kind} download failed: ${(cause as Error).message}`, { cause });
    }
    if (!res.ok) throw new EInvoiceUpstreamError('file-download', `invoice ${kind} download: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  private async load(attemptKey: string): Promise<{ attempt: InvoiceAttemptRow; request: InvoiceRequestRow }> {
    const em = this.deps.db.manager;
    const attempt = await this.repo.attempt(em, attemptKey);
    const request = attempt ? await this.repo.byId(em, attempt.requestId) : null;
    if (!attempt || !request) throw new Error(`no invoice attempt ${attemptKey}`);
    return { attempt, request };
  }

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }
}
