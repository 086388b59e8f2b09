import { In } from 'typeorm';
import { isUniqueViolation } from '../../lib/db/sql';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, ValidationError } from '../../lib/errors';
import { CertificateEntity } from '../certificates/entities';
import { OrderEntity } from '../orders/entities';
import { OrderService } from '../orders/service';
import { type StatementLine } from './matcher';
import { type StatementEntry, StatementEntryEntity, type TransferCode, TransferCodeEntity } from './entities';
import { drawTransferCode } from './transfer-code';
import { type ImportOptions, type LineOutcome, StatementImport } from './statement-import';

/** How long a transfer order waits for the money to arrive (and be imported) before the sweep closes it. */
export const TRANSFER_WAIT_MS = 7 * 86_400_000;

export { CLAIM_STALE_MS, type ImportOptions, type LineOutcome, REJECTION_NOTICE } from './statement-import';

/**
 * 对公汇款: the 6-digit code an order is paid with, and the import of bank statements that credits orders.
 * Money is credited only through OrderService (markPaid's guarded UPDATE, by the chunk in markPaidWithin), with
 * the bank serial as the transaction id; each line is claimed once by its serial, so re-importing a file, or
 * importing it twice at once, credits nothing twice.
 */
export class TransferService {
  private readonly orders: OrderService;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
  }

  /** The code an order already has, if 对公汇款 was chosen for it; changes nothing. */
  existingCode(orderId: number): Promise<TransferCode | null> {
    return this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId } });
  }

  /** The order's transfer code (drawn once; asking again returns the same one). */
  async codeFor(orderNo: string, openid: string, at: Date): Promise<TransferCode> {
    const order = await this.orders.choosePaymentMethod(orderNo, openid, 'transfer', at);
    const existing = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId: order.id } });
    if (existing) return existing;
    if (order.state !== 'PENDING_PAYMENT') throw new ConflictError('订单已支付或已关闭', `order ${orderNo} is ${order.state}`);
    const certificates = await this.deps.db.getRepository(CertificateEntity).find({ where: { id: In(order.lines.map((l) => l.certificateId)) } });
    const organizations = [...new Set(certificates.map((c) => c.organization ?? ''))];
    // One transfer comes from one account: the payer name check needs one organisation per order.
    if (organizations.length !== 1 || !organizations[0]) {
      throw new ValidationError('对公汇款只能支付同一单位的证书，请按单位分开下单', `order ${orderNo} spans ${organizations.length} organisations`);
    }
    for (let attempt = 1; ; attempt++) {
      const code = await drawTransferCode(this.deps.random, (c) => this.codeTaken(c));
      try {
        const row = { orderId: order.id, orderNo, code, openCode: code, organizationName: organizations[0], createdAt: at };
        const id = await inTransaction(this.deps.db, async (em) => {
          const result = await em.insert(TransferCodeEntity, row);
          // A bank transfer takes days, not the 2 hours a WeChat Pay order lives: the order waits for it.
          await em.update(OrderEntity, { id: order.id, state: 'PENDING_PAYMENT' }, { expiresAt: new Date(at.getTime() + TRANSFER_WAIT_MS), updatedAt: at });
          return Number(result.identifiers[0].id);
        });
        return { ...row, id };
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
        const raced = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId: order.id } });
        if (raced) return raced;
      }
    }
  }

  /** A code is taken while its order can still be paid; a code left on a closed or paid order is released here. */
  private async codeTaken(code: string): Promise<boolean> {
    const holder = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { openCode: code } });
    if (!holder) return false;
    const order = await this.deps.db.getRepository(OrderEntity).findOne({ where: { id: holder.orderId } });
    if (order?.state === 'PENDING_PAYMENT') return true;
    await this.deps.db.getRepository(TransferCodeEntity).update({ id: holder.id, openCode: code }, { openCode: null });
    return false;
  }

  /**
   * Decides and records each line (matcher.ts has the rules), in file order, a chunk of lines per transaction
   * (statement-import.ts); returns one outcome per line, in the order given. What the CLI and the console call.
   */
  importLines(lines: StatementLine[], source: string, at: Date, opts: ImportOptions = {}): Promise<LineOutcome[]> {
    return new StatementImport(this.deps, source, at).run(lines, opts);
  }

  /** Lines waiting for a person (the operator console will list these). */
  exceptions(limit = 200): Promise<StatementEntry[]> {
    return this.deps.db.getRepository(StatementEntryEntity).find({ where: { decision: 'exception' }, order: { importedAt: 'DESC' }, take: limit });
  }
}
