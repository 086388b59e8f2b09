import { In, LessThan } from 'typeorm';
import { type Deps } from '../../deps';
import { NotFoundError } from '../../lib/errors';
import { type IssuerStatus } from '../../providers/einvoice/types';
import { InvoiceMailEntity, InvoiceRequestEntity, type InvoiceMailRow, type InvoiceRequestRow } from './entities';
import { InvoiceRepository } from './repository';
import { queueInvoiceMail } from './service';

/** An invoice still 开票中 after this is reported: the clerk's login, 实人认证 or the credit line is the usual cause. */
export const STUCK_AFTER_MS = 15 * 60_000;

export interface InvoiceHealth {
  issuer: IssuerStatus | { error: string };
  stuck: InvoiceRequestRow[];
  failed: InvoiceRequestRow[];
  awaitingBuyer: InvoiceRequestRow[];
  mailsFailed: InvoiceMailRow[];
  mailsOwed: InvoiceMailRow[];
}

/** What an operator must know so issuing never stalls silently (`npm run invoices:status`; the console later). */
export async function invoiceHealth(deps: Deps): Promise<InvoiceHealth> {
  const em = deps.db.manager;
  const now = deps.clock.nowMs();
  let issuer: InvoiceHealth['issuer'];
  try {
    issuer = await deps.einvoice.issuerStatus();
  } catch (err) {
    issuer = { error: (err as Error).message };
  }
  const requests = (status: InvoiceRequestRow['status'][], before?: Date) =>
    em.find(InvoiceRequestEntity, { where: { status: In(status), ...(before ? { updatedAt: LessThan(before) } : {}) }, order: { updatedAt: 'ASC' }, take: 100 });
  return {
    issuer,
    stuck: await requests(['issuing'], new Date(now - STUCK_AFTER_MS)),
    failed: await requests(['failed']),
    awaitingBuyer: await requests(['awaiting-buyer']),
    mailsFailed: await em.find(InvoiceMailEntity, { where: { state: 'failed' }, order: { id: 'DESC' }, take: 100 }),
    mailsOwed: await em.find(InvoiceMailEntity, { where: { state: 'owed', createdAt: LessThan(new Date(now - 5 * 60_000)) }, order: { id: 'ASC' }, take: 100 }),
  };
}

/** An operator sends the PDF again (to the buyer's address, or `to`). A new owed mail: the queue sends and retries it. */
export async function resendInvoiceMail(deps: Deps, acceptanceNo: string, by: string, to?: string): Promise<string> {
  const repo = new InvoiceRepository();
  const row = await repo.byAcceptanceNo(deps.db.manager, acceptanceNo);
  if (!row?.issuedAt) throw new NotFoundError('未找到已开具的发票', `no issued invoice ${acceptanceNo}`);
  const address = to ?? JSON.parse(deps.pii.decrypt(row.buyerSealed, 'invoice-buyer', { actor: by, reason: 'invoice-resend', subject: `invoice-request:${row.id}` })).email as string;
  await queueInvoiceMail(deps, row, address, `op-${acceptanceNo}-${deps.clock.nowMs()}`);
  return address;
}
