import { type Deps } from '../../deps';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { type RedReason } from '../../providers/einvoice/types';
import { InvoiceAttemptEntity, type InvoiceAttemptRow, InvoiceLineEntity, InvoiceLinkEntity, type InvoiceLinkRow, type InvoiceMailRow, InvoiceRequestEntity, type InvoiceRequestRow, type InvoiceLineRow } from './entities';
import { RedLetters } from './red-letter';
import { InvoiceRepository } from './repository';
import { INVOICE_STATUS_LABELS } from './types';

/**
 * The 客服's view of invoices in the console (issue 12): search across every buyer, a request's whole record, and
 * the red-letter proposal kind. The actions themselves are the services `npm run invoices:*` calls (issuance.ts,
 * red-letter.ts, link-access.ts, operator.ts): the console and the command do the same thing.
 */
export interface InvoiceSearch {
  /** 受理单号, 发票号码, 订单号 or openid: matched exactly. */
  q?: string;
  /** 抬头 prefix. */
  title?: string;
  status?: string;
}

export interface InvoiceRecord {
  request: InvoiceRequestRow;
  statusLabel: string;
  lines: InvoiceLineRow[];
  attempts: InvoiceAttemptRow[];
  links: InvoiceLinkRow[];
  mails: InvoiceMailRow[];
  files: { kind: string; sizeBytes: number }[];
  related: InvoiceRequestRow | null;
  replaces: InvoiceRequestRow | null;
}

export const RED_REASONS: Array<{ code: RedReason; label: string }> = [
  { code: 'issued-in-error', label: '开票有误' },
  { code: 'sales-return', label: '销货退回' },
  { code: 'service-stopped', label: '服务中止' },
  { code: 'sales-allowance', label: '销售折让' },
];
export const redReasonLabel = (code: string) => RED_REASONS.find((r) => r.code === code)?.label ?? code;

export interface RedLetterPayload {
  acceptanceNo: string;
  reason: RedReason;
}

export const describeRedLetter = (p: RedLetterPayload) => `红冲发票 ${p.acceptanceNo}（${redReasonLabel(p.reason)}）`;

export const statusLabelOf = (r: Pick<InvoiceRequestRow, 'direction' | 'status'>) => (r.direction === 'red' && r.status === 'issued' ? '已开具（红字）' : INVOICE_STATUS_LABELS[r.status]);

export class InvoiceConsole {
  private readonly repo = new InvoiceRepository();

  constructor(private readonly deps: Deps) {}

  async search(s: InvoiceSearch, page: number, pageSize: number): Promise<{ rows: InvoiceRequestRow[]; total: number }> {
    const qb = this.deps.db.manager.createQueryBuilder(InvoiceRequestEntity, 'r');
    const q = s.q?.trim();
    if (q) {
      // Exact keys only (indexed); an order number finds the requests through their lines.
      const byOrder = this.deps.db.manager.createQueryBuilder(InvoiceLineEntity, 'l').select('l.request_id').where('l.order_no = :q');
      qb.where(`(r.acceptance_no = :q OR r.invoice_number = :q OR r.openid = :q OR r.id IN (${byOrder.getQuery()}))`, { q });
    }
    const title = s.title?.trim();
    if (title) qb.andWhere('r.title LIKE :title', { title: `${title.replace(/[\\%_]/g, (c) => `\\${c}`)}%` });
    if (s.status && s.status in INVOICE_STATUS_LABELS) qb.andWhere('r.status = :status', { status: s.status });
    qb.orderBy('r.id', 'DESC').skip((page - 1) * pageSize).take(pageSize);
    const [rows, total] = await qb.getManyAndCount();
    return { rows, total };
  }

  async record(acceptanceNo: string): Promise<InvoiceRecord> {
    const em = this.deps.db.manager;
    const request = await this.repo.byAcceptanceNo(em, acceptanceNo);
    if (!request) throw new NotFoundError('未找到该开票申请', `invoice request ${acceptanceNo}`);
    const related = request.direction === 'red' && request.reversesId ? await this.repo.byId(em, request.reversesId) : await this.repo.redOf(em, request.id);
    return {
      request, statusLabel: statusLabelOf(request),
      lines: await this.repo.linesOf(em, [request.id]),
      attempts: await em.find(InvoiceAttemptEntity, { where: { requestId: request.id }, order: { attemptNo: 'ASC' } }),
      links: await em.find(InvoiceLinkEntity, { where: { requestId: request.id }, order: { id: 'ASC' } }),
      mails: await this.repo.mailsOf(em, request.id),
      files: (await this.repo.filesOf(em, request.id)).map((f) => ({ kind: f.kind, sizeBytes: f.sizeBytes })),
      related,
      replaces: request.replacesId ? await this.repo.byId(em, request.replacesId) : null,
    };
  }

  // ---- four-eyes kind 'red-letter' ----

  async validateRedLetter(p: RedLetterPayload): Promise<void> {
    if (!RED_REASONS.some((r) => r.code === p.reason)) throw new ValidationError('请选择红冲原因', `red reason ${p.reason}`);
    const blue = await this.repo.byAcceptanceNo(this.deps.db.manager, p.acceptanceNo);
    if (!blue || blue.direction !== 'blue') throw new NotFoundError('未找到该发票', `no blue invoice ${p.acceptanceNo}`);
    if (blue.status !== 'issued' || !blue.invoiceNumber) throw new ConflictError('只有已开具的蓝字发票可以红冲', `invoice ${p.acceptanceNo} is ${blue.status}`);
    const red = await this.repo.redOf(this.deps.db.manager, blue.id);
    if (red && red.status !== 'failed') throw new ConflictError('该发票已有红冲在处理中或已完成', `red ${red.acceptanceNo} is ${red.status}`);
  }

  /**
   * Runs the red-letter path (red-letter.ts) once. A second run — the approval retried after a crash — finds the red
   * request the first made (issuing, issued, or the blue one awaiting the buyer) and reports it instead of filing a
   * second form; only a red that failed (the form refused) lets a new one be filed.
   */
  async executeRedLetter(p: RedLetterPayload, by: string): Promise<Record<string, unknown>> {
    const em = this.deps.db.manager;
    const blue = await this.repo.byAcceptanceNo(em, p.acceptanceNo);
    if (!blue) throw new NotFoundError('未找到该发票', `no blue invoice ${p.acceptanceNo}`);
    const red = await this.repo.redOf(em, blue.id);
    if (red && red.status !== 'failed') return { redAcceptanceNo: red.acceptanceNo, state: red.status, blueState: blue.status, already: true };
    const result = await new RedLetters(this.deps).request(p.acceptanceNo, by, p.reason);
    if (result.state === 'refused') throw new ConflictError(`红字确认单未通过：${result.detail ?? ''}`, `red letter of ${p.acceptanceNo} refused: ${result.detail}`);
    return { redAcceptanceNo: result.redAcceptanceNo, state: result.state };
  }
}
