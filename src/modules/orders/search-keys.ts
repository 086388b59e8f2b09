import { type EntityManager } from 'typeorm';
import { utcDatetime } from '../../lib/db/sql';

/**
 * order_search_keys (migration 1766200000000): the organisations and USCCs an order renews certificates of, beside the
 * order's created_at, so the console's organisation-prefix and USCC searches read one covering index (search.ts).
 * Written in the transaction that inserts the order: a search never misses a committed order.
 */
export async function writeSearchKeys(em: EntityManager, orderId: number, createdAt: Date, certificateIds: number[]): Promise<void> {
  if (!certificateIds.length) return;
  await em.query(
    `INSERT INTO order_search_keys (order_id, created_at, organization, credit_code)
     SELECT DISTINCT ?, ?, c.organization, c.credit_code FROM certificates c WHERE c.id IN (${certificateIds.map(() => '?').join(',')})`,
    [orderId, utcDatetime(createdAt), ...certificateIds],
  );
}
