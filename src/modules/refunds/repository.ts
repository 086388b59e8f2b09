import { type EntityManager, In, IsNull, LessThan } from 'typeorm';
import { EXCEPTION_STATES, type Refund, RefundEntity, type RefundState } from './entities';

export type NewRefund = Pick<Refund, 'orderNo' | 'outTradeNo' | 'outRefundNo' | 'transactionId' | 'kind' | 'amountFen' | 'totalFen' | 'reason' | 'state'>;

/** Refund records. Every method takes the manager, so the order's own transition and its refund commit together. */
export class RefundRepository {
  /** Records the refund once: a repeat (same out_refund_no) keeps the first row. */
  async record(em: EntityManager, refund: NewRefund, at: Date): Promise<void> {
    await em.createQueryBuilder().insert().into(RefundEntity)
      .values({ ...refund, reason: [...refund.reason].slice(0, 80).join(''), refundId: null, attempts: 0, lastError: null, createdAt: at, updatedAt: at, settledAt: null, resolvedAt: null, resolvedBy: null })
      .orIgnore().updateEntity(false).execute();
  }

  byOutRefundNo(em: EntityManager, outRefundNo: string): Promise<Refund | null> {
    return em.findOne(RefundEntity, { where: { outRefundNo } });
  }

  ofOrder(em: EntityManager, orderNo: string): Promise<Refund[]> {
    return em.find(RefundEntity, { where: { orderNo }, order: { id: 'ASC' } });
  }

  /** Changes the row only while it is still in `from` (a notify and a query answer racing cannot undo each other). */
  async update(em: EntityManager, id: number, from: RefundState, patch: Partial<Refund>): Promise<boolean> {
    const result = await em.update(RefundEntity, { id, state: from }, patch);
    return (result.affected ?? 0) > 0;
  }

  /** Refunds in `state` not touched since `before`, oldest first. */
  stale(em: EntityManager, state: RefundState, before: Date, limit: number): Promise<Refund[]> {
    return em.find(RefundEntity, { where: { state, updatedAt: LessThan(before) }, order: { updatedAt: 'ASC' }, take: limit });
  }

  exceptions(em: EntityManager, limit: number): Promise<Refund[]> {
    return em.find(RefundEntity, { where: { state: In([...EXCEPTION_STATES]), resolvedAt: IsNull() }, order: { updatedAt: 'ASC' }, take: limit });
  }

  async resolve(em: EntityManager, outRefundNo: string, by: string, at: Date): Promise<boolean> {
    const result = await em.update(RefundEntity, { outRefundNo, state: In([...EXCEPTION_STATES]), resolvedAt: IsNull() }, { resolvedAt: at, resolvedBy: by.slice(0, 64) });
    return (result.affected ?? 0) > 0;
  }
}
