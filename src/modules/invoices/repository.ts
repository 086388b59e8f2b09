import { type EntityManager, In, IsNull, Not } from 'typeorm';
import { dialectOf } from '../../lib/db/sql';
import { CertificateEntity } from '../certificates/entities';
import { type Order, OrderEntity, OrderLineEntity, PriceRuleEntity } from '../orders/entities';
import {
  type InvoiceAttemptRow, InvoiceAttemptEntity, InvoiceFileEntity, type InvoiceFileRow, InvoiceLineEntity, type InvoiceLineRow, InvoiceLinkEntity,
  type InvoiceLinkRow, InvoiceMailEntity, type InvoiceMailRow, InvoiceRequestEntity, type InvoiceRequestRow,
} from './entities';

export type NewRequest = Omit<InvoiceRequestRow, 'id'>;
export type NewLine = Omit<InvoiceLineRow, 'id' | 'requestId'>;

/** What an order contributes to an invoice line: its paid amount, certificates and the price rule's tax data. */
export interface OrderForInvoice {
  order: Order;
  certificateCount: number;
  organisation: string | null;
  creditCode: string | null;
  itemName: string;
  taxCode: string;
  taxRateBp: number;
}

/** Reads and guarded writes of the invoice tables; every method takes the EntityManager of its caller's transaction. */
export class InvoiceRepository {
  /** Paid orders of `openid` with no standing invoice line, newest payment first. */
  async invoiceableOrders(em: EntityManager, openid: string): Promise<Order[]> {
    return em.createQueryBuilder(OrderEntity, 'o')
      .leftJoin(InvoiceLineEntity.options.tableName!, 'l', 'l.order_key = o.order_no')
      .where('o.openid = :openid', { openid })
      .andWhere('o.state IN (:...states)', { states: ['PAID', 'FULFILLED'] })
      .andWhere('l.id IS NULL')
      .orderBy('o.paidAt', 'DESC').addOrderBy('o.id', 'DESC')
      // limit, not take: the join matches at most one line per order (order_key is unique), no de-duplication needed.
      .limit(200)
      .getMany();
  }

  /**
   * The orders (any openid: the caller checks ownership) with what the invoice needs. On MySQL the order rows are
   * locked for the transaction: a refund starting at the same time (PAID → REFUNDING, an UPDATE of the same row)
   * waits for this request to commit and then sees its line, and vice versa. SQLite runs transactions one at a time.
   */
  async ordersForInvoice(em: EntityManager, orderNos: string[], lock: boolean): Promise<OrderForInvoice[]> {
    if (orderNos.length === 0) return [];
    const qb = em.createQueryBuilder(OrderEntity, 'o').where('o.order_no IN (:...orderNos)', { orderNos });
    if (lock && dialectOf(em.connection) === 'mysql') qb.setLock('pessimistic_write');
    const orders = await qb.getMany();
    return this.describe(em, orders);
  }

  async describe(em: EntityManager, orders: Order[]): Promise<OrderForInvoice[]> {
    if (orders.length === 0) return [];
    const lines = await em.find(OrderLineEntity, { where: { orderId: In(orders.map((o) => o.id)) }, order: { id: 'ASC' } });
    const certs = lines.length ? await em.find(CertificateEntity, { where: { id: In([...new Set(lines.map((l) => l.certificateId))]) } }) : [];
    const rules = lines.length ? await em.find(PriceRuleEntity, { where: { id: In([...new Set(lines.map((l) => l.priceRuleId))]) } }) : [];
    return orders.map((order) => {
      const own = lines.filter((l) => l.orderId === order.id);
      const cert = certs.find((c) => c.id === own[0]?.certificateId);
      const rule = rules.find((r) => r.id === own[0]?.priceRuleId);
      return {
        order, certificateCount: own.length, organisation: cert?.organization ?? null, creditCode: cert?.creditCode ?? null,
        itemName: rule?.invoiceItem ?? '*信息技术服务*数字证书服务费', taxCode: rule?.taxCode ?? '3040201990000000000', taxRateBp: rule?.taxRateBp ?? 600,
      };
    });
  }

  /** Standing lines (an invoice stands for the order) of these orders. */
  standingLines(em: EntityManager, orderNos: string[]): Promise<InvoiceLineRow[]> {
    return orderNos.length ? em.find(InvoiceLineEntity, { where: { orderKey: In(orderNos) } }) : Promise.resolve([]);
  }

  async insertRequest(em: EntityManager, row: NewRequest, lines: NewLine[]): Promise<InvoiceRequestRow> {
    const result = await em.insert(InvoiceRequestEntity, row);
    const id = Number(result.identifiers[0]!.id);
    if (lines.length) await em.insert(InvoiceLineEntity, lines.map((l) => ({ ...l, requestId: id })));
    return { ...row, id };
  }

  async insertAttempt(em: EntityManager, row: Omit<InvoiceAttemptRow, 'id'>): Promise<void> {
    await em.insert(InvoiceAttemptEntity, row);
  }

  byAcceptanceNo(em: EntityManager, acceptanceNo: string): Promise<InvoiceRequestRow | null> {
    return em.findOne(InvoiceRequestEntity, { where: { acceptanceNo } });
  }

  byId(em: EntityManager, id: number): Promise<InvoiceRequestRow | null> {
    return em.findOne(InvoiceRequestEntity, { where: { id } });
  }

  linesOf(em: EntityManager, requestIds: number[]): Promise<InvoiceLineRow[]> {
    return requestIds.length ? em.find(InvoiceLineEntity, { where: { requestId: In(requestIds) }, order: { id: 'ASC' } }) : Promise.resolve([]);
  }

  async historyOf(em: EntityManager, openid: string, page: number, pageSize: number): Promise<{ rows: InvoiceRequestRow[]; total: number }> {
    const [rows, total] = await em.findAndCount(InvoiceRequestEntity, { where: { openid }, order: { createdAt: 'DESC', id: 'DESC' }, skip: (page - 1) * pageSize, take: pageSize });
    return { rows, total };
  }

  /** The red request reversing `blueId`, or the blue one a red reverses. */
  redOf(em: EntityManager, blueId: number): Promise<InvoiceRequestRow | null> {
    return em.findOne(InvoiceRequestEntity, { where: { reversesId: blueId, direction: 'red' }, order: { id: 'DESC' } });
  }

  attempt(em: EntityManager, attemptKey: string): Promise<InvoiceAttemptRow | null> {
    return em.findOne(InvoiceAttemptEntity, { where: { attemptKey } });
  }

  currentAttempt(em: EntityManager, request: InvoiceRequestRow): Promise<InvoiceAttemptRow | null> {
    return em.findOne(InvoiceAttemptEntity, { where: { requestId: request.id, attemptNo: request.attemptNo } });
  }

  /** Moves an attempt only from the state the caller read: a concurrent poller that got there first wins. */
  async moveAttempt(em: EntityManager, id: number, from: InvoiceAttemptRow['state'][], patch: Partial<InvoiceAttemptRow>): Promise<boolean> {
    const result = await em.update(InvoiceAttemptEntity, { id, state: In(from) }, patch);
    return (result.affected ?? 0) > 0;
  }

  async moveRequest(em: EntityManager, id: number, from: InvoiceRequestRow['status'][], patch: Partial<InvoiceRequestRow>): Promise<boolean> {
    const result = await em.update(InvoiceRequestEntity, { id, status: In(from) }, patch);
    return (result.affected ?? 0) > 0;
  }

  /** Attempts a poller should be following but may have lost (a job that died with its process). */
  staleAttempts(em: EntityManager, before: Date, limit: number): Promise<InvoiceAttemptRow[]> {
    return em.createQueryBuilder(InvoiceAttemptEntity, 'a')
      .where('a.state IN (:...states)', { states: ['pending', 'accepted'] })
      .andWhere('a.updatedAt < :before', { before })
      .orderBy('a.updatedAt', 'ASC').take(limit).getMany();
  }

  /** Frees the orders of a reversed invoice: they can be invoiced again (a corrected title). */
  async releaseLines(em: EntityManager, requestId: number): Promise<void> {
    await em.update(InvoiceLineEntity, { requestId, orderKey: Not(IsNull()) }, { orderKey: null });
  }

  async insertFile(em: EntityManager, row: Omit<InvoiceFileRow, 'id'>): Promise<void> {
    await em.createQueryBuilder().insert().into(InvoiceFileEntity).values(row).orIgnore().execute();
  }

  filesOf(em: EntityManager, requestId: number, withBytes = false): Promise<InvoiceFileRow[]> {
    const select: (keyof InvoiceFileRow)[] = ['id', 'requestId', 'kind', 'contentType', 'sizeBytes', 'sha256', 'createdAt'];
    return em.find(InvoiceFileEntity, { where: { requestId }, order: { id: 'ASC' }, ...(withBytes ? {} : { select }) });
  }

  file(em: EntityManager, requestId: number, kind: string): Promise<InvoiceFileRow | null> {
    return em.findOne(InvoiceFileEntity, { where: { requestId, kind: kind as InvoiceFileRow['kind'] } });
  }

  async insertLink(em: EntityManager, row: Omit<InvoiceLinkRow, 'id'>): Promise<void> {
    await em.insert(InvoiceLinkEntity, row);
  }

  liveLink(em: EntityManager, requestId: number): Promise<InvoiceLinkRow | null> {
    return em.findOne(InvoiceLinkEntity, { where: { requestId, revokedAt: IsNull() }, order: { id: 'DESC' } });
  }

  linkByHash(em: EntityManager, tokenHash: string): Promise<InvoiceLinkRow | null> {
    return em.findOne(InvoiceLinkEntity, { where: { tokenHash } });
  }

  async revokeLinks(em: EntityManager, requestId: number, by: string, at: Date): Promise<number> {
    const result = await em.update(InvoiceLinkEntity, { requestId, revokedAt: IsNull() }, { revokedAt: at, revokedBy: by.slice(0, 64) });
    return result.affected ?? 0;
  }

  async countOpen(em: EntityManager, linkId: number): Promise<void> {
    await em.increment(InvoiceLinkEntity, { id: linkId }, 'opens', 1);
  }

  async recordMail(em: EntityManager, row: Omit<InvoiceMailRow, 'id'>): Promise<void> {
    await em.createQueryBuilder().insert().into(InvoiceMailEntity).values(row).orIgnore().execute();
  }

  mail(em: EntityManager, mailKey: string): Promise<InvoiceMailRow | null> {
    return em.findOne(InvoiceMailEntity, { where: { mailKey } });
  }

  lastMail(em: EntityManager, requestId: number): Promise<InvoiceMailRow | null> {
    return em.findOne(InvoiceMailEntity, { where: { requestId }, order: { id: 'DESC' } });
  }

  mailsOf(em: EntityManager, requestId: number): Promise<InvoiceMailRow[]> {
    return em.find(InvoiceMailEntity, { where: { requestId }, order: { id: 'ASC' } });
  }

  owedMails(em: EntityManager, before: Date, limit: number): Promise<InvoiceMailRow[]> {
    return em.createQueryBuilder(InvoiceMailEntity, 'm').where('m.state = :s', { s: 'owed' }).andWhere('m.createdAt < :before', { before })
      .orderBy('m.id', 'ASC').take(limit).getMany();
  }

  async updateMail(em: EntityManager, id: number, patch: Partial<InvoiceMailRow>): Promise<void> {
    await em.update(InvoiceMailEntity, { id }, patch);
  }
}
