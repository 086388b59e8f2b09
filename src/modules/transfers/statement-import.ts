import { randomBytes } from 'node:crypto';
import { type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { dialectOf, isDeadlock, utcDatetime } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { NoticeOutbox, type OwedNotice } from '../notices/outbox';
import { orderPaidNotice } from '../orders/paid-notice';
import { OrderService } from '../orders/service';
import { transferRejectedNotice } from '../payments/notices';
import { StatementEntryEntity } from './entities';
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
  /** Lines per transaction (default IMPORT_CHUNK_LINES, at most 2,000). */
  chunkLines?: number;
  /** After each chunk has committed: lines done so far and the total (a page shows progress with it). */
  onProgress?(done: number, total: number): void;
  /** Checked between chunks: the chunks committed stay imported, the rest is left to a later import of the file. */
  signal?: AbortSignal;
}

/** amount_fen is an INT: an amount beyond it (a typo) is stored as NULL; the line is still decided on the amount printed. */
const MAX_INT = 2_147_483_647;

/** Another import claimed a line of this chunk meanwhile: the chunk is rolled back and done again. */
class ClaimRaceError extends Error {
  constructor(lost: number) {
    super(`${lost} line(s) of the chunk were claimed by another import meanwhile`);
  }
}

interface LockedOrder extends OpenTransferOrder { codeId: number; orderId: number; state: string; transactionId: string | null }
interface Chunk { outcomes: LineOutcome[]; notices: OwedNotice[]; stillOwed: string[] }

/**
 * The statement import, a chunk of lines per transaction. In one transaction a chunk reads which of its serials
 * are already there (skipped), locks and reads the orders the other lines' codes name, decides those lines in file
 * order (matcher.ts, then what markPaid would answer), and writes them with their decisions in one INSERT that
 * skips a serial already there, checked by the run's token (claim()); then it credits the orders in one guarded
 * UPDATE with their 订单支付成功 owed, releases their codes and records the 汇款未通过 owed. So a line is claimed,
 * decided and settled exactly once: a second import of the file (or of an overlapping one, or the same file at
 * once) finds the serials taken, and an import that dies mid-chunk leaves nothing of that chunk behind — the next
 * run does it whole. Notices are queued after each commit; one the process dies before queueing stays owed for
 * the periodic pass (notices/outbox.ts).
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
    // At most 2,000: a chunk's INSERT binds 13 values a line, and SQLite takes 32,766 at most.
    const size = Math.min(2000, Math.max(1, opts.chunkLines ?? IMPORT_CHUNK_LINES));
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
        const done = first.length ? await this.inChunkTransaction(first) : { outcomes: [], notices: [], stillOwed: [] };
        let i = 0;
        for (const line of chunk) {
          const mine = first[i] === line ? done.outcomes[i++] : undefined;
          outcomes.push(mine ?? { line: line.line, bankSerial: line.bankSerial, result: 'skipped' });
        }
        await queued;
        queued = this.queue(done);
        // Handled now (Node would end the process on a rejection left alone while the next chunk runs); awaited below.
        queued.catch(() => undefined);
        opts.onProgress?.(Math.min(start + size, lines.length), lines.length);
      }
    } finally {
      await queued;
    }
    return outcomes;
  }

  /** A chunk that lost a line to another import, or a deadlock victim (InnoDB picks one), is done again whole. */
  private async inChunkTransaction(lines: StatementLine[]): Promise<Chunk> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.deps.db, (tx) => this.chunk(tx, lines));
      } catch (err) {
        if (attempt >= 5 || !(err instanceof ClaimRaceError || isDeadlock(err))) throw err;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  private async queue(done: Chunk): Promise<void> {
    await Promise.all(done.notices.map((n) => this.outbox.enqueue(n)));
    for (const key of done.stillOwed) await this.outbox.enqueueIfOwed(key);
  }

  private async chunk(tx: EntityManager, lines: StatementLine[]): Promise<Chunk> {
    const { fresh, takenOver } = await this.unclaimed(tx, lines);
    const open = await this.lockOrders(tx, lines.filter((l) => fresh.has(l.bankSerial) || takenOver.has(l.bankSerial)));
    const result: Chunk = { outcomes: [], notices: [], stillOwed: [] };
    const credits: Array<{ orderId: number; orderNo: string; amountFen: number; transactionId: string }> = [];
    const released: number[] = [];
    const rows: Array<{ line: StatementLine; decision: 'credited' | 'exception'; reason: string | null; orderNo: string | null }> = [];
    for (const line of lines) {
      const base = { line: line.line, bankSerial: line.bankSerial };
      if (!fresh.has(line.bankSerial) && !takenOver.has(line.bankSerial)) {
        result.outcomes.push({ ...base, result: 'skipped' });
        continue;
      }
      const decision = decide(line, { seen: () => false, openOrderByCode: (code) => open.get(code) });
      let outcome: LineOutcome;
      if (decision.kind === 'match') {
        const code = line.remark.normalize('NFKC').trim();
        const order = open.get(code)!;
        const transactionId = `BANK-${line.bankSerial}`.slice(0, 64);
        // What markPaid would answer, from the row locked above: the guarded UPDATE below has the last word.
        const already = order.state !== 'PENDING_PAYMENT' && order.transactionId === transactionId;
        if (order.state === 'PENDING_PAYMENT' || already) {
          if (already) result.stillOwed.push(orderPaidNotice(order.orderNo).key);
          else credits.push({ orderId: order.orderId, orderNo: order.orderNo, amountFen: decision.amountFen, transactionId });
          // The code is released with the credit: a later line naming it finds no open order, as it would tomorrow.
          open.delete(code);
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
      if (outcome.result !== 'skipped') rows.push({ line, decision: outcome.result, reason: outcome.reason ?? null, orderNo: outcome.orderNo ?? null });
      result.outcomes.push(outcome);
    }
    await this.claim(tx, rows.filter((r) => fresh.has(r.line.bankSerial)));
    for (const r of rows) {
      const id = takenOver.get(r.line.bankSerial);
      if (id !== undefined) await tx.update(StatementEntryEntity, { id }, { decision: r.decision, reason: r.reason, orderNo: r.orderNo });
    }
    await this.orders.markPaidWithin(tx, credits, 'transfer', this.at);
    if (released.length) await tx.query(`UPDATE transfer_codes SET open_code = NULL WHERE id IN (${released.map(() => '?').join(',')})`, released);
    await NoticeOutbox.recordMany(tx, result.notices, new Date(this.deps.clock.nowMs()));
    result.notices.unshift(...credits.map((c) => orderPaidNotice(c.orderNo)));
    return result;
  }

  /**
   * The lines this run may decide: serials not imported yet, and claims left `processing` longer than
   * CLAIM_STALE_MS (an import of before the chunks died between its claim and its decision), taken over here.
   * A serial settled before is skipped, and so is one another import is deciding right now.
   */
  private async unclaimed(tx: EntityManager, lines: StatementLine[]): Promise<{ fresh: Set<string>; takenOver: Map<string, number> }> {
    const held: Array<{ id: number; bank_serial: string; decision: string }> = await tx.query(
      `SELECT id, bank_serial, decision FROM bank_statement_lines WHERE bank_serial IN (${lines.map(() => '?').join(',')})`, lines.map((l) => l.bankSerial));
    const known = new Set(held.map((r) => r.bank_serial));
    const takenOver = new Map<string, number>();
    for (const row of held) {
      if (row.decision === 'processing' && (await this.takeOver(tx, Number(row.id), lines.find((l) => l.bankSerial === row.bank_serial)!))) takenOver.set(row.bank_serial, Number(row.id));
    }
    return { fresh: new Set(lines.filter((l) => !known.has(l.bankSerial)).map((l) => l.bankSerial)), takenOver };
  }

  /**
   * Writes the decided lines in one INSERT that skips a serial already there, then counts the rows carrying this
   * run's token: fewer than written means another import claimed a line since unclaimed() looked, and the chunk
   * is rolled back and done again (it then skips that line). The unique serial is the arbiter, as before.
   */
  private async claim(tx: EntityManager, rows: Array<{ line: StatementLine; decision: string; reason: string | null; orderNo: string | null }>): Promise<void> {
    if (!rows.length) return;
    const columns = ['bank_serial', 'line_date', 'payer_name', 'payer_account', 'payer_bank', 'amount_fen', 'remark', 'decision', 'reason', 'order_no', 'source', 'imported_at', 'claim_token'];
    const values = rows.flatMap(({ line: l, decision, reason, orderNo }) => {
      const fen = yuanToFen(l.amount);
      return [
        l.bankSerial, l.date.slice(0, 32), l.payerName.slice(0, 200), l.payerAccount.slice(0, 64), l.payerBank.slice(0, 200), fen !== null && fen <= MAX_INT ? fen : null,
        l.remark.slice(0, 200), decision, reason, orderNo, `${this.source}:${l.line}`.slice(-200), utcDatetime(this.at), this.token,
      ];
    });
    const tuples = rows.map(() => `(${columns.map(() => '?').join(',')})`).join(',');
    // Only a duplicate serial is skipped (INSERT IGNORE would also swallow a value the column cannot hold).
    await tx.query(`INSERT INTO bank_statement_lines (${columns.join(',')}) VALUES ${tuples} ${dialectOf(tx) === 'mysql' ? 'ON DUPLICATE KEY UPDATE id = id' : 'ON CONFLICT (bank_serial) DO NOTHING'}`, values);
    const [{ n }]: Array<{ n: number | string }> = await tx.query(
      `SELECT COUNT(*) AS n FROM bank_statement_lines WHERE claim_token = ? AND bank_serial IN (${rows.map(() => '?').join(',')})`, [this.token, ...rows.map((r) => r.line.bankSerial)]);
    if (Number(n) !== rows.length) throw new ClaimRaceError(rows.length - Number(n));
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
}
