import { And, type EntityManager, In, IsNull, LessThan, MoreThanOrEqual, Not } from 'typeorm';
import { type Order, OrderEntity } from '../orders/entities';
import { type Refund, RefundEntity } from '../refunds/entities';
import { type BillFinding, BillFindingEntity, type BillRun, BillRunEntity } from './entities';

export type NewFinding = Pick<BillFinding, 'kind' | 'outTradeNo' | 'outRefundNo' | 'transactionId' | 'oursFen' | 'theirsFen' | 'outcome' | 'detail'>;

/** Refund states WeChat Pay has accepted (REQUESTED never reached it; FAILED it refused; MANUAL is a bank transfer). */
const ACCEPTED_REFUND_STATES = ['PROCESSING', 'SUCCESS', 'CLOSED', 'ABNORMAL'] as const;

/** Bill runs and findings, plus the reads of our own money records the comparison needs. */
export class BillRepository {
  run(em: EntityManager, billDate: string): Promise<BillRun | null> {
    return em.findOne(BillRunEntity, { where: { billDate } });
  }

  recentRuns(em: EntityManager, limit: number): Promise<BillRun[]> {
    return em.find(BillRunEntity, { order: { billDate: 'DESC' }, take: limit });
  }

  /** Counts a try of the day (creating its row on the first one). */
  async startRun(em: EntityManager, billDate: string, at: Date): Promise<void> {
    await em.createQueryBuilder().insert().into(BillRunEntity)
      .values({ billDate, state: 'FAILED', billRows: 0, billPaymentFen: 0, billRefundFen: 0, findings: 0, attempts: 0, lastError: 'never finished', startedAt: at, finishedAt: null })
      .orIgnore().updateEntity(false).execute();
    await em.createQueryBuilder().update(BillRunEntity).set({ attempts: () => 'attempts + 1', startedAt: at }).where({ billDate }).execute();
  }

  async finishRun(em: EntityManager, billDate: string, patch: Partial<Pick<BillRun, 'state' | 'billRows' | 'billPaymentFen' | 'billRefundFen' | 'findings' | 'lastError' | 'finishedAt'>>): Promise<void> {
    await em.update(BillRunEntity, { billDate }, patch);
  }

  /**
   * The day's findings after a new comparison: open ones not yet handled by a person are replaced by this run's;
   * a finding the check repaired (credited, recorded) or a person resolved stays as history, and is not added twice.
   */
  async replaceFindings(em: EntityManager, billDate: string, findings: NewFinding[], at: Date): Promise<void> {
    await em.delete(BillFindingEntity, { billDate, outcome: 'open', resolvedAt: IsNull() });
    for (const f of findings) {
      await em.createQueryBuilder().insert().into(BillFindingEntity)
        .values({ ...f, billDate, detail: [...f.detail].slice(0, 200).join(''), createdAt: at, resolvedAt: null, resolvedBy: null })
        .orIgnore().updateEntity(false).execute();
    }
  }

  findings(em: EntityManager, where: { billDate?: string; openOnly?: boolean }, limit = 500): Promise<BillFinding[]> {
    return em.find(BillFindingEntity, {
      where: { ...(where.billDate ? { billDate: where.billDate } : {}), ...(where.openOnly ? { outcome: 'open' as const, resolvedAt: IsNull() } : {}) },
      order: { billDate: 'DESC', id: 'ASC' }, take: limit,
    });
  }

  async resolve(em: EntityManager, id: number, by: string, at: Date): Promise<boolean> {
    const result = await em.update(BillFindingEntity, { id, outcome: 'open', resolvedAt: IsNull() }, { resolvedAt: at, resolvedBy: by.slice(0, 64) });
    return (result.affected ?? 0) > 0;
  }

  /** Orders we recorded as paid through WeChat Pay within [from, to) (paid_at is WeChat Pay's success_time). */
  paidByWechatPay(em: EntityManager, from: Date, to: Date): Promise<Order[]> {
    return em.find(OrderEntity, { where: { paymentMethod: 'wechatpay', paidAt: And(MoreThanOrEqual(from), LessThan(to)), transactionId: Not(IsNull()) } });
  }

  ordersByTransaction(em: EntityManager, transactionIds: string[]): Promise<Order[]> {
    return transactionIds.length ? em.find(OrderEntity, { where: { transactionId: In(transactionIds) } }) : Promise.resolve([]);
  }

  /** Refunds of payments we did not keep (late, duplicate): the bill holds those payments too. */
  refundedPayments(em: EntityManager, transactionIds: string[]): Promise<Refund[]> {
    return transactionIds.length ? em.find(RefundEntity, { where: { transactionId: In(transactionIds), kind: In(['late-payment', 'duplicate-payment']) } }) : Promise.resolve([]);
  }

  refundsByNumber(em: EntityManager, outRefundNos: string[]): Promise<Refund[]> {
    return outRefundNos.length ? em.find(RefundEntity, { where: { outRefundNo: In(outRefundNos) } }) : Promise.resolve([]);
  }

  /** Refunds recorded within [from, to) that WeChat Pay accepted (so the day's bill should hold them). */
  acceptedRefunds(em: EntityManager, from: Date, to: Date): Promise<Refund[]> {
    return em.find(RefundEntity, { where: { state: In([...ACCEPTED_REFUND_STATES]), createdAt: And(MoreThanOrEqual(from), LessThan(to)) } });
  }
}
