import { type EntityManager } from 'typeorm';
import { ConflictError } from '../../lib/errors';
import { InvoiceLineEntity, InvoiceRequestEntity } from './entities';

/** An order with a standing invoice cannot be refunded until the invoice is reversed (红冲): the refund's books must match. */
export class InvoicedOrderRefundError extends ConflictError {
  constructor(readonly orderNo: string, readonly acceptanceNo: string, status: string) {
    super(
      status === 'issued' || status === 'awaiting-buyer' ? '该订单已开具发票，须先红冲发票后才能退款' : '该订单有开票申请尚未办结，须先撤回或红冲后才能退款',
      `order ${orderNo} has invoice request ${acceptanceNo} (${status}): red-letter it first (npm run invoices:red-letter -- ${acceptanceNo})`,
    );
  }
}

/**
 * Called inside the refund's transaction, after the order row was moved (and so locked, on MySQL): an invoice
 * request made at the same moment either committed before (and is seen here) or waits for this one and then finds
 * the order REFUNDING.
 */
export async function assertNoStandingInvoice(tx: EntityManager, orderNo: string): Promise<void> {
  const line = await tx.findOne(InvoiceLineEntity, { where: { orderKey: orderNo } });
  if (!line) return;
  const request = await tx.findOne(InvoiceRequestEntity, { where: { id: line.requestId } });
  throw new InvoicedOrderRefundError(orderNo, request?.acceptanceNo ?? '?', request?.status ?? '?');
}
