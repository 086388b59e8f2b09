import { randomBytes } from 'node:crypto';
import { type EntityManager, In } from 'typeorm';
import { type Deps } from '../../deps';
import { dialectOf, retryTransient, utcDatetime } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { NoticeOutbox, type OwedNotice } from '../notices/outbox';
import { orderPaidNotice } from '../orders/paid-notice';
import { OrderService } from '../orders/service';
import { transferRejectedNotice } from '../payments/notices';
import { StatementEntryEntity, TransferCodeEntity } from './entities';
import { decide, type OpenTransferOrder, type StatementLine } from './matcher';
import { yuanToFen } from './normalise';

/** Lines decided and written per transaction: one commit per chunk instead of two to four per line. */
export const IMPORT_CHUNK_LINES = 500;

/** A line claimed this long ago and still not settled belongs to an import that died; another may take it. */
export const CLAIM_STALE_MS = 5 * 60_000;

/** What the handler is told (a template's thing field: 20 characters at most) when their transfer is not credited. */
export const REJECTION_NOTICE: Readonly<Record<string, string>> = {
  'amount-mismatch': '汇款金额与订单金额不符',
  'name-mismatch': '付款单位与证书单位不符',
  'fiscal-payer': '不支持财政或国库账户汇款',
  'late-payment': '订单已关闭，款项将退回',
};

export interface LineOutcome {
  line: number;
  bankSerial: string;
  /** credited: the order is PAID now (or was by this very line before); skipped: the bank serial was imported before. */
  result: 'credited' | 'exception' | 'skipped';
  orderNo?: string;
  reason?: string;
  message?: string;
}

export interface ImportOptions {
  /** Lines per transaction (default IMPORT_CHUNK_LINES). */
  chunkLines?: number;
  /** After each chunk has committed: lines done so far and the total (a page shows progress with it). */
  onProgress?(done: number, total: number): void;
  /** Checked between chunks: the chunks committed stay imported, the rest is left to a later import of the file. */
  signal?: AbortSignal;
}

interface LockedOrder extends OpenTransferOrder { codeId: number; orderId: number; state: string; transactionId: string | null }
interface Chunk { outcomes: LineOutcome[]; notices: OwedNotice[]; stillOwed: string[] }

/**
 * The statement import, a chunk of lines per transaction. In one transaction a chunk claims its lines (one
 * multi-row INSERT that skips serials already there; the run's token tells which rows it wrote), locks and reads
 * the orders their codes name, decides every claimed line in file order (matcher.ts, then what markPaid would
 * answer), credits the orders in one guarded UPDATE with their 订单支付成功 owed, releases their codes, records
 * the 汇款未通过 owed, and settles the lines. So a line is claimed, decided and settled exactly once: a second
 * import of the file (or of an overlapping one, or the same file at once) finds the serials taken, and an import
 * that dies mid-chunk leaves nothing of that chunk behind — the next run does it whole. Notices are queued after
 * each commit; one the process dies before queueing stays owed for the periodic pass (notices/outbox.ts).
 */
export class StatementImport {
  private readonly orders: OrderService;
  private readonly outbox: NoticeOutbox;
  /** Which rows of bank_statement_lines this run's INSERTs wrote. */
  private readonly token = randomBytes(12).toString('hex');

  constructor(private readonly deps: Deps, private readonly source: string, private readonly at: Date) {
    this.orders = new OrderService(deps);
    this.outbox = new NoticeOutbox(deps);
  }

  async run(lines: StatementLine[], opts: ImportOptions = {}): Promise<LineOutcome[]> {
    const size = Math.max(1, opts.chunkLines ?? IMPORT_CHUNK_LINES);
    const outcomes: LineOutcome[] = [];
    const inFile = new Set<string>();
    // The notices of a chunk are queued while the next chunk runs; an error there still fails the import (after its commit).
    let queued: Promise<void> = Promise.resolve();
    try {
      for (let start = 0; start < lines.length; start += size) {
        opts.signal?.throwIfAborted();
        const chunk = lines.slice(start, start + size);
        // A serial seen earlier in the file is that line again: skipped, as a re-import would.
        const first = chunk.filter((l) => !inFile.has(l.bankSerial) && inFile.add(l.bankSerial));
        // A deadlock with an overlapping import (InnoDB picks a victim) rolls the chunk back: do it again whole.
        const done = first.length ? await retryTransient(() => inTransaction(this.deps.db, (tx) => this.chunk(tx, first)), 5) : { outcomes: [], notices: [], stillOwed: [] };
        let i = 0;
        for (const line of chunk) {
          const mine = first[i] === line ? done.outcomes[i++] : undefined;
          outcomes.push(mine ?? { line: line.line, bankSerial: line.bankSerial, result: 'skipped' });
        }
        await queued;
        queued = this.queue(done);
        opts.onProgress?.(Math.min(start + size, lines.length), lines.length);
      }
    } finally {
      await queued;
    }
    return outcomes;
  }

  private async queue(done: Chunk): Promise<void> {
    await Promise.all(done.notices.map((n) => this.outbox.enqueue(n)));
    for (const key of done.stillOwed) await this.outbox.enqueueIfOwed(key);
  }

  private async chunk(tx: EntityManager, lines: StatementLine[]): Promise<Chunk> {
    const mine = await this.claim(tx, lines);
    const open = await this.lockOrders(tx, lines.filter((l) => mine.has(l.bankSerial)));
    const result: Chunk = { outcomes: [], notices: [], stillOwed: [] };
    const credits: Array<{ orderId: number; orderNo: string; amountFen: number; transactionId: string }> = [];
    const released: number[] = [];
    const settle: Array<{ id: number; decision: 'credited' | 'exception'; reason: string | null; orderNo: string | null }> = [];
    for (const line of lines) {
      const id = mine.get(line.bankSerial);
      const base = { line: line.line, bankSerial: line.bankSerial };
      if (id === undefined) {
        result.outcomes.push({ ...base, result: 'skipped' });
        continue;
      }
      const decision = decide(line, { seen: () => false, openOrderByCode: (code) => open.get(code) });
      let outcome: LineOutcome;
      if (decision.kind === 'match') {
        const order = open.get(line.remark.normalize('NFKC').trim())!;
        const transactionId = `BANK-${line.bankSerial}`.slice(0, 64);
        // What markPaid would answer, from the row locked above: the guarded UPDATE below has the last word.
        const already = order.state !== 'PENDING_PAYMENT' && order.transactionId === transactionId;
        if (order.state === 'PENDING_PAYMENT' || already) {
          if (already) result.stillOwed.push(orderPaidNotice(order.orderNo).key);
          else credits.push({ orderId: order.orderId, orderNo: order.orderNo, amountFen: decision.amountFen, transactionId });
          // The code is released with the credit: a later line naming it finds no open order, as it would tomorrow.
          open.delete(line.remark.normalize('NFKC').trim());
          released.push(order.codeId);
          outcome = { ...base, result: 'credited', orderNo: order.orderNo };
        } else {
          const late = order.state === 'CLOSED';
          outcome = { ...base, result: 'exception', orderNo: order.orderNo, reason: late ? 'late-payment' : 'duplicate-payment',
            message: late ? '订单已关闭（超时或取消），款项需退回或人工处理' : '订单已由其他款项支付，款项需退回' };
        }
      } else if (decision.kind === 'exception') {
        outcome = { ...base, result: 'exception', orderNo: decision.orderNo, reason: decision.reason, message: decision.message };
      } else {
        outcome = { ...base, result: 'skipped' };
      }
      if (outcome.result === 'exception') {
        const why = outcome.reason ? REJECTION_NOTICE[outcome.reason] : undefined;
        if (outcome.orderNo && why) result.notices.push(transferRejectedNotice(outcome.orderNo, line.bankSerial, why));
      }
      if (outcome.result !== 'skipped') settle.push({ id, decision: outcome.result, reason: outcome.reason ?? null, orderNo: outcome.orderNo ?? null });
      result.outcomes.push(outcome);
    }
    await this.orders.markPaidWithin(tx, credits, 'transfer', this.at);
    if (released.length) await tx.update(TransferCodeEntity, { id: In(released) }, { openCode: null });
    await NoticeOutbox.recordMany(tx, result.notices, new Date(this.deps.clock.nowMs()));
    await this.settle(tx, settle);
    result.notices.unshift(...credits.map((c) => orderPaidNotice(c.orderNo)));
    return result;
  }

  /**
   * Claims the lines: the ids of those this run may decide, by serial. A serial already there is someone else's —
   * settled (skipped), or being decided by another import — unless that import died: a claim left `processing`
   * longer than CLAIM_STALE_MS (only an import of before the chunks could leave one committed) is taken over.
   */
  private async claim(tx: EntityManager, lines: StatementLine[]): Promise<Map<string, number>> {
    const mysql = dialectOf(tx) === 'mysql';
    const columns = ['bank_serial', 'line_date', 'payer_name', 'payer_account', 'payer_bank', 'amount_fen', 'remark', 'decision', 'source', 'imported_at', 'claim_token'];
    const values = lines.flatMap((l) => [
      l.bankSerial, l.date.slice(0, 32), l.payerName.slice(0, 200), l.payerAccount.slice(0, 64), l.payerBank.slice(0, 200), yuanToFen(l.amount),
      l.remark.slice(0, 200), 'processing', `${this.source}:${l.line}`.slice(-200), utcDatetime(this.at), this.token,
    ]);
    const rows = lines.map(() => `(${columns.map(() => '?').join(',')})`).join(',');
    // Only a duplicate serial is skipped (INSERT IGNORE would also swallow a value the column cannot hold).
    await tx.query(`INSERT INTO bank_statement_lines (${columns.join(',')}) VALUES ${rows} ${mysql ? 'ON DUPLICATE KEY UPDATE id = id' : 'ON CONFLICT (bank_serial) DO NOTHING'}`, values);
    const held: Array<{ id: number; bank_serial: string; decision: string; claim_token: string | null }> = await tx.query(
      `SELECT id, bank_serial, decision, claim_token FROM bank_statement_lines WHERE bank_serial IN (${lines.map(() => '?').join(',')})`, lines.map((l) => l.bankSerial));
    const mine = new Map<string, number>();
    for (const row of held) {
      if (row.claim_token === this.token) mine.set(row.bank_serial, Number(row.id));
      else if (row.decision === 'processing' && (await this.takeOver(tx, Number(row.id), lines.find((l) => l.bankSerial === row.bank_serial)!))) mine.set(row.bank_serial, Number(row.id));
    }
    return mine;
  }

  private async takeOver(tx: EntityManager, id: number, line: StatementLine): Promise<boolean> {
    const held = await tx.findOne(StatementEntryEntity, { where: { id } });
    if (!held || held.decision !== 'processing' || this.at.getTime() - held.importedAt.getTime() < CLAIM_STALE_MS) return false;
    const taken = await tx.update(StatementEntryEntity, { id, decision: 'processing', importedAt: held.importedAt }, { importedAt: this.at, source: `${this.source}:${line.line}`.slice(-200), claimToken: this.token });
    return (taken.affected ?? 0) > 0;
  }

  /** The orders the claimed lines' codes name, locked until the commit (MySQL; SQLite runs one transaction at a time). */
  private async lockOrders(tx: EntityManager, lines: StatementLine[]): Promise<Map<string, LockedOrder>> {
    const codes = [...new Set(lines.map((l) => l.remark.normalize('NFKC').trim()).filter((c) => /^\d{6}$/.test(c)))];
    const open = new Map<string, LockedOrder>();
    if (!codes.length) return open;
    const rows: Array<Record<string, unknown>> = await tx.query(
      'SELECT c.id AS code_id, c.open_code, c.organization_name, o.id AS order_id, o.order_no, o.total_fen, o.state, o.transaction_id ' +
      `FROM transfer_codes c JOIN orders o ON o.id = c.order_id WHERE c.open_code IN (${codes.map(() => '?').join(',')}) AND c.order_no IS NOT NULL` +
      (dialectOf(tx) === 'mysql' ? ' FOR UPDATE' : ''), codes);
    // A closed order's code is still "known": the line becomes a late payment, never a silent credit.
    for (const r of rows) {
      open.set(String(r.open_code), {
        codeId: Number(r.code_id), orderId: Number(r.order_id), orderNo: String(r.order_no), amountFen: Number(r.total_fen), organizationName: String(r.organization_name),
        state: String(r.state), transactionId: r.transaction_id === null ? null : String(r.transaction_id),
      });
    }
    return open;
  }

  /** Every claimed line's decision in one UPDATE. */
  private async settle(tx: EntityManager, lines: Array<{ id: number; decision: string; reason: string | null; orderNo: string | null }>): Promise<void> {
    if (!lines.length) return;
    const when = lines.map(() => 'WHEN ? THEN ?').join(' ');
    const by = (pick: (l: (typeof lines)[number]) => unknown) => lines.flatMap((l) => [l.id, pick(l)]);
    await tx.query(
      `UPDATE bank_statement_lines SET decision = CASE id ${when} END, reason = CASE id ${when} END, order_no = CASE id ${when} END WHERE id IN (${lines.map(() => '?').join(',')})`,
      [...by((l) => l.decision), ...by((l) => l.reason), ...by((l) => l.orderNo), ...lines.map((l) => l.id)],
    );
  }
}
