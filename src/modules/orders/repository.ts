import { type EntityManager, In, LessThan, Not, IsNull } from 'typeorm';
import { utcDatetime } from '../../lib/db/sql';
import { type Order, OrderEntity, type OrderLine, OrderLineEntity, type PaymentMethod } from './entities';
import { isOpen, type OrderState } from './states';
import { writeSearchKeys } from './search-keys';

export type NewOrder = Omit<Order, 'id' | 'state' | 'paymentMethod' | 'paidAt' | 'paidAmountFen' | 'transactionId' | 'closedAt' | 'closeReason' | 'fulfilledAt' | 'refundingAt' | 'refundedAt' | 'updatedAt'>;
export type NewOrderLine = Omit<OrderLine, 'id' | 'orderId' | 'openKey'>;
export interface OrderWithLines extends Order { lines: OrderLine[] }

/** The open-order key of a certificate: its id, as text (the column is a string so other keys could join later). */
export const openKeyOf = (certificateId: number): string => String(certificateId);

/**
 * Orders and their lines. Every state change is one UPDATE guarded by the expected state, so two callers racing
 * on the same order cannot both win; the caller (OrderService) runs it inside inTransaction and reads the
 * outcome afterwards. Every method takes the manager, so a service can run several in one transaction.
 */
export class OrderRepository {
  async insert(em: EntityManager, order: NewOrder, lines: NewOrderLine[]): Promise<OrderWithLines> {
    const header: Omit<Order, 'id'> = {
      ...order, state: 'PENDING_PAYMENT', paymentMethod: null, paidAt: null, paidAmountFen: null, transactionId: null,
      closedAt: null, closeReason: null, fulfilledAt: null, refundingAt: null, refundedAt: null, updatedAt: order.createdAt,
    };
    const result = await em.insert(OrderEntity, header);
    const orderId = Number(result.identifiers[0].id);
    const saved: OrderLine[] = [];
    for (const line of lines) {
      // The unique open_key is the arbiter of "one open order per certificate": a concurrent order fails here.
      const row = { ...line, orderId, openKey: openKeyOf(line.certificateId) };
      const inserted = await em.insert(OrderLineEntity, row);
      saved.push({ ...row, id: Number(inserted.identifiers[0].id) });
    }
    await writeSearchKeys(em, orderId, header.createdAt, lines.map((l) => l.certificateId));
    return { ...header, id: orderId, lines: saved };
  }

  findByNo(em: EntityManager, orderNo: string): Promise<Order | null> {
    return em.findOne(OrderEntity, { where: { orderNo } });
  }

  async withLines(em: EntityManager, orders: Order[]): Promise<OrderWithLines[]> {
    if (!orders.length) return [];
    const lines = await em.find(OrderLineEntity, { where: { orderId: In(orders.map((o) => o.id)) }, order: { id: 'ASC' } });
    return orders.map((o) => ({ ...o, lines: lines.filter((l) => l.orderId === o.id) }));
  }

  listByOpenid(em: EntityManager, openid: string, limit: number): Promise<Order[]> {
    return em.find(OrderEntity, { where: { openid }, order: { createdAt: 'DESC', id: 'DESC' }, take: limit });
  }

  /** The open orders holding any of these certificates (at most one each, by the unique open_key). */
  async openOrdersOf(em: EntityManager, certificateIds: number[]): Promise<Array<{ certificateId: number; order: Order }>> {
    if (!certificateIds.length) return [];
    const lines = await em.find(OrderLineEntity, { where: { openKey: In(certificateIds.map(openKeyOf)) } });
    if (!lines.length) return [];
    const orders = await em.find(OrderEntity, { where: { id: In([...new Set(lines.map((l) => l.orderId))]) } });
    const byId = new Map(orders.map((o) => [o.id, o]));
    return lines.filter((l) => byId.has(l.orderId)).map((l) => ({ certificateId: l.certificateId, order: byId.get(l.orderId)! }));
  }

  /**
   * Moves the order from `from` to `to` if, and only if, it is in `from` now; `extra` guards on more columns
   * (e.g. the amount paid). Leaving the open states frees the certificates for a new order in the same
   * transaction. Returns whether this call made the change.
   */
  async transition(
    em: EntityManager, orderNo: string, from: OrderState, to: OrderState, patch: Partial<Order>, at: Date, extra: Partial<Pick<Order, 'totalFen'>> = {},
  ): Promise<boolean> {
    const result = await em.update(OrderEntity, { orderNo, state: from, ...extra }, { ...patch, state: to, updatedAt: at });
    if ((result.affected ?? 0) === 0) return false;
    if (isOpen(from) && !isOpen(to)) {
      const order = await this.findByNo(em, orderNo);
      await em.update(OrderLineEntity, { orderId: order!.id, openKey: Not(IsNull()) }, { openKey: null });
    }
    return true;
  }

  /**
   * PENDING_PAYMENT → PAID for many orders in one UPDATE, each guarded by its state and its total as in transition()
   * (PAID is still open: the lines keep their open keys). Returns how many changed. Needs a transaction (`em` of
   * inTransaction); the caller locks and reads the orders first, so a short count means one moved under it.
   */
  async markPaidMany(em: EntityManager, payments: Array<{ orderId: number; amountFen: number; transactionId: string }>, method: PaymentMethod, at: Date): Promise<number> {
    if (!payments.length) return 0;
    const when = payments.map(() => 'WHEN ? THEN ?').join(' ');
    const by = (pick: (p: (typeof payments)[number]) => unknown) => payments.flatMap((p) => [p.orderId, pick(p)]);
    const result = await em.queryRunner!.query(
      `UPDATE orders SET state = 'PAID', payment_method = ?, paid_at = ?, updated_at = ?, paid_amount_fen = CASE id ${when} END, transaction_id = CASE id ${when} END ` +
      `WHERE state = 'PENDING_PAYMENT' AND id IN (${payments.map(() => '?').join(',')}) AND total_fen = CASE id ${when} END`,
      [method, utcDatetime(at), utcDatetime(at), ...by((p) => p.amountFen), ...by((p) => p.transactionId), ...payments.map((p) => p.orderId), ...by((p) => p.amountFen)],
      true,
    );
    return result.affected ?? 0;
  }

  /** Records the chosen method while the order waits for payment; false when it no longer does. */
  async setPaymentMethod(em: EntityManager, orderNo: string, openid: string, method: PaymentMethod, at: Date): Promise<boolean> {
    const result = await em.update(OrderEntity, { orderNo, openid, state: 'PENDING_PAYMENT' }, { paymentMethod: method, updatedAt: at });
    return (result.affected ?? 0) > 0;
  }

  /** Numbers of orders still waiting for payment whose time ran out before `now`, oldest first. */
  async dueForExpiry(em: EntityManager, now: Date, limit: number): Promise<string[]> {
    const rows = await em.find(OrderEntity, { select: { orderNo: true }, where: { state: 'PENDING_PAYMENT', expiresAt: LessThan(now) }, order: { expiresAt: 'ASC' }, take: limit });
    return rows.map((r) => r.orderNo);
  }
}
