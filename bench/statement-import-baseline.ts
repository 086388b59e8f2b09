import { In, IsNull, Not } from 'typeorm';
import { type Deps } from '../src/deps';
import { isUniqueViolation } from '../src/lib/db/sql';
import { inTransaction } from '../src/lib/db/transaction';
import { OrderEntity } from '../src/modules/orders/entities';
import { orderPaidNotice } from '../src/modules/orders/paid-notice';
import { OrderService } from '../src/modules/orders/service';
import { NoticeOutbox } from '../src/modules/notices/outbox';
import { transferRejectedNotice } from '../src/modules/payments/notices';
import { StatementEntryEntity, TransferCodeEntity } from '../src/modules/transfers/entities';
import { decide, type StatementLine } from '../src/modules/transfers/matcher';
import { yuanToFen } from '../src/modules/transfers/normalise';
import { type LineOutcome, REJECTION_NOTICE } from '../src/modules/transfers/service';

/**
 * The baseline of bench/statement-import.ts: TransferService.importLines as it was at 7e556b8, one line at a time
 * (claim INSERT, then markPaid's transaction, the code released, the line settled: four commits for a credit,
 * two for an exception, plus two SELECTs per line to find the order). Kept here, unchanged but for its imports,
 * so the bench measures before and after in the same run; not used by the application. Left out: the takeover of a
 * claim a dead import left (never met in the bench).
 */
export async function baselineImportLines(deps: Deps, lines: StatementLine[], source: string, at: Date): Promise<LineOutcome[]> {
  const orders = new OrderService(deps);
  const outbox = new NoticeOutbox(deps);
  const serials = lines.map((l) => l.bankSerial);
  const settled = await deps.db.getRepository(StatementEntryEntity).find({ where: { bankSerial: In(serials), decision: Not('processing') }, select: ['bankSerial'] });
  const seen = new Set(settled.map((e) => e.bankSerial));
  const outcomes: LineOutcome[] = [];
  for (const line of lines) {
    const open = await openOrderByCode(deps, line.remark.normalize('NFKC').trim());
    const decision = decide(line, { seen: (s) => seen.has(s), openOrderByCode: () => open });
    seen.add(line.bankSerial);
    const base = { line: line.line, bankSerial: line.bankSerial };
    if (decision.kind === 'duplicate') { outcomes.push({ ...base, result: 'skipped' }); continue; }
    const entryId = await claimLine(deps, line, source, at);
    if (entryId === null) { outcomes.push({ ...base, result: 'skipped' }); continue; }
    if (decision.kind === 'match') {
      const paid = await orders.markPaid(decision.orderNo, { method: 'transfer', amountFen: decision.amountFen, transactionId: `BANK-${line.bankSerial}`.slice(0, 64), paidAt: at });
      if (paid.outcome === 'paid' || paid.outcome === 'already') {
        await deps.db.getRepository(TransferCodeEntity).update({ orderNo: decision.orderNo }, { openCode: null });
        await deps.db.getRepository(StatementEntryEntity).update({ id: entryId }, { decision: 'credited', reason: null, orderNo: decision.orderNo });
        if (paid.outcome === 'paid') await outbox.enqueue(orderPaidNotice(decision.orderNo));
        else await outbox.enqueueIfOwed(orderPaidNotice(decision.orderNo).key);
        outcomes.push({ ...base, result: 'credited', orderNo: decision.orderNo });
        continue;
      }
      const message = paid.outcome === 'late-payment' ? '订单已关闭（超时或取消），款项需退回或人工处理' : '订单已由其他款项支付，款项需退回';
      outcomes.push(await recordException(deps, outbox, entryId, line, { ...base, result: 'exception', orderNo: decision.orderNo, reason: paid.outcome, message }));
      continue;
    }
    outcomes.push(await recordException(deps, outbox, entryId, line, { ...base, result: 'exception', orderNo: decision.orderNo, reason: decision.reason, message: decision.message }));
  }
  return outcomes;
}

async function openOrderByCode(deps: Deps, code: string) {
  if (!/^\d{6}$/.test(code)) return undefined;
  const holder = await deps.db.getRepository(TransferCodeEntity).findOne({ where: { openCode: code, orderNo: Not(IsNull()) } });
  if (!holder) return undefined;
  const order = await deps.db.getRepository(OrderEntity).findOne({ where: { id: holder.orderId } });
  return order ? { orderNo: order.orderNo, amountFen: order.totalFen, organizationName: holder.organizationName } : undefined;
}

async function recordException(deps: Deps, outbox: NoticeOutbox, entryId: number, line: StatementLine, outcome: LineOutcome): Promise<LineOutcome> {
  const why = outcome.reason ? REJECTION_NOTICE[outcome.reason] : undefined;
  const notice = outcome.orderNo && why ? transferRejectedNotice(outcome.orderNo, line.bankSerial, why) : null;
  await inTransaction(deps.db, async (em) => {
    await em.update(StatementEntryEntity, { id: entryId }, { decision: 'exception', reason: outcome.reason ?? null, orderNo: outcome.orderNo ?? null });
    if (notice) await NoticeOutbox.record(em, notice, new Date(deps.clock.nowMs()));
  });
  if (notice) await outbox.enqueue(notice);
  return outcome;
}

async function claimLine(deps: Deps, line: StatementLine, source: string, at: Date): Promise<number | null> {
  const repo = deps.db.getRepository(StatementEntryEntity);
  try {
    const result = await repo.insert({
      bankSerial: line.bankSerial, lineDate: line.date.slice(0, 32), payerName: line.payerName.slice(0, 200), payerAccount: line.payerAccount.slice(0, 64),
      payerBank: line.payerBank.slice(0, 200), amountFen: yuanToFen(line.amount), remark: line.remark.slice(0, 200),
      decision: 'processing', reason: null, orderNo: null, source: `${source}:${line.line}`.slice(-200), importedAt: at,
    });
    return Number(result.identifiers[0].id);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  return null;
}
