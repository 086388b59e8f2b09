import { type Clock, type Random } from '../../lib/clock';
import { renderInvoicePdf, type SandboxInvoice } from './sandbox-pdf';
import { renderInvoiceXml } from './sandbox-xml';
import {
  ATTEMPT_KEY, type EInvoiceProvider, type IssuerStatus, type EInvoiceSubmitRequest, type InvoiceRef, type IssueRedRequest, type QueryOutcome,
  type RedConfirmState, type RedLetterOutcome, type RedLetterRequest, type ReInvoiceOutcome, type SubmitOutcome,
} from './types';

/**
 * The sandbox issuer: a local stand-in for the e-invoice provider with the same asynchronous behaviour as Nuonuo
 * (submit answers at once; the invoice is 开票中 for `delayMs`, then issued, failed or issued-but-unsealed), a
 * settable failure rate, and real files (the PDF and XML of sandbox-pdf.ts / sandbox-xml.ts, watermarked
 * 测试样票，非正式发票). State lives in this process, like the other sandboxes.
 *
 * Deterministic triggers for tests and demos, in the buyer's title: 开票失败 → failed, 签章失败 → sealing fails
 * once (reInvoice then issues it), 待确认 → a red letter for it waits for the buyer (confirmRed settles it).
 */

export interface SandboxIssuerOptions {
  seller: SandboxInvoice['seller'];
  clerk: string;
  clock: Clock;
  random: Random;
  /** How long an attempt stays 开票中 (default 3 s). */
  delayMs?: number;
  /** Share of attempts that fail (0..1, default 0). */
  failureRate?: number;
  /** Share of attempts whose seal fails (0..1, default 0). */
  sealFailureRate?: number;
  font?: { path: string; face: string };
}

type Fate = 'issue' | 'fail' | 'seal-fail';

interface Attempt {
  serial: string;
  request: EInvoiceSubmitRequest;
  readyAtMs: number;
  fate: Fate;
  number?: string;
  issuedAtMs?: number;
  files?: { pdf: Buffer; xml: Buffer };
  /** The red invoice's blue original, when this attempt is a red one. */
  redOf?: string;
}

interface RedForm {
  confirmId: string;
  request: RedLetterRequest;
  state: 'awaiting-buyer' | 'confirmed' | 'revoked';
  redSerial?: string;
}

export class SandboxIssuer implements EInvoiceProvider {
  readonly mode = 'sandbox' as const;
  private readonly attempts = new Map<string, Attempt>(); // by attempt key
  private readonly bySerial = new Map<string, string>(); // serial → attempt key
  private readonly byNumber = new Map<string, string>(); // invoice number → attempt key
  private readonly redForms = new Map<string, RedForm>();
  private counter = 0;

  /** The clerk's standing as the operator command reports it; tests and the sandbox console change it. */
  readonly issuer: Omit<IssuerStatus, 'clerk' | 'detail'> = { login: 'logged-in', identityCheck: 'valid', creditLeftFen: 100_000_000, creditTotalFen: 100_000_000 };

  constructor(private readonly opts: SandboxIssuerOptions) {}

  async issuerStatus(): Promise<IssuerStatus> {
    return { ...this.issuer, clerk: this.opts.clerk, detail: '沙箱开票员（模拟状态）' };
  }

  /** Changes the failure rate and delay while running (the sandbox's settable behaviour). */
  configure(change: Partial<Pick<SandboxIssuerOptions, 'delayMs' | 'failureRate' | 'sealFailureRate'>>): void {
    Object.assign(this.opts, change);
  }

  async submit(request: EInvoiceSubmitRequest): Promise<SubmitOutcome> {
    if (!ATTEMPT_KEY.test(request.attemptKey)) throw new RangeError(`attempt key not usable: ${request.attemptKey}`);
    if (this.attempts.has(request.attemptKey)) return { kind: 'already-submitted' };
    const lineError = request.lines.find((l) => l.amountFen + l.taxFen !== l.totalFen);
    if (request.lines.length === 0 || lineError) return { kind: 'refused', code: 'SANDBOX-LINES', reason: '发票明细金额与税额之和不等于价税合计' };
    if (request.buyer.kind === 'organisation' && !request.buyer.taxId) return { kind: 'refused', code: 'SANDBOX-TAXID', reason: '单位抬头缺少购方税号' };
    return { kind: 'accepted', serial: this.store(request, this.fateOf(request.buyer.name)).serial };
  }

  async query(ref: InvoiceRef): Promise<QueryOutcome> {
    const key = 'serial' in ref ? this.bySerial.get(ref.serial) : ref.attemptKey;
    const attempt = key ? this.attempts.get(key) : undefined;
    if (!attempt) return { state: 'not-found' };
    const { serial } = attempt;
    const attemptKey = attempt.request.attemptKey;
    if (this.opts.clock.nowMs() < attempt.readyAtMs) return { state: 'in-progress', serial, attemptKey };
    if (attempt.fate === 'fail') return { state: 'failed', serial, attemptKey, reason: '沙箱模拟：开票失败（税局校验未通过）' };
    if (attempt.fate === 'seal-fail') return { state: 'sealing-failed', serial, attemptKey, reason: '沙箱模拟：开票成功，签章失败' };
    await this.issue(attempt);
    const totals = attempt.request.lines.reduce((t, l) => ({ total: t.total + l.totalFen, tax: t.tax + l.taxFen }), { total: 0, tax: 0 });
    return {
      state: 'issued', serial, attemptKey, kind: 'digital', number: attempt.number!, issuedAt: new Date(attempt.issuedAtMs!),
      totalFen: totals.total, taxFen: totals.tax,
      files: { pdf: { bytes: attempt.files!.pdf, contentType: 'application/pdf' }, xml: { bytes: attempt.files!.xml, contentType: 'application/xml' } },
    };
  }

  async reInvoice(serial: string): Promise<ReInvoiceOutcome> {
    const attempt = this.attempts.get(this.bySerial.get(serial) ?? '');
    if (!attempt) return { kind: 'refused', code: 'SANDBOX-NOTFOUND', reason: '发票流水号不存在' };
    if (attempt.number) return { kind: 'already-issued' };
    if (this.opts.clock.nowMs() < attempt.readyAtMs) return { kind: 'retrying' };
    attempt.fate = 'issue';
    attempt.readyAtMs = this.opts.clock.nowMs() + this.delay();
    return { kind: 'retrying' };
  }

  async requestRedLetter(request: RedLetterRequest): Promise<RedLetterOutcome> {
    const existing = this.redForms.get(request.confirmId);
    if (existing) return this.redOutcome(existing);
    const blueKey = this.byNumber.get(request.blue.number);
    if (!blueKey) return { kind: 'refused', code: 'SANDBOX-BLUE', reason: '蓝字发票不存在' };
    const form: RedForm = { confirmId: request.confirmId, request, state: request.buyer.name.includes('待确认') ? 'awaiting-buyer' : 'confirmed' };
    this.redForms.set(request.confirmId, form);
    if (form.state === 'confirmed') form.redSerial = this.storeRed(form, request.attemptKey);
    return this.redOutcome(form);
  }

  async queryRedConfirm(confirmId: string): Promise<RedConfirmState> {
    const form = this.redForms.get(confirmId);
    if (!form) return { state: 'not-found' };
    if (form.state === 'awaiting-buyer') return { state: 'awaiting-buyer', confirmId };
    if (form.state === 'revoked') return { state: 'revoked', confirmId, reason: '沙箱模拟：购方已拒绝' };
    const red = form.redSerial ? this.attempts.get(this.bySerial.get(form.redSerial)!) : undefined;
    return { state: 'confirmed', confirmId, ...(form.redSerial ? { redSerial: form.redSerial } : {}), ...(red?.number ? { redNumber: red.number } : {}) };
  }

  async issueRed(request: IssueRedRequest): Promise<SubmitOutcome> {
    const form = this.redForms.get(request.confirmId);
    if (!form || form.state !== 'confirmed') return { kind: 'refused', code: 'SANDBOX-RED', reason: '红字确认单未确认' };
    if (form.redSerial) return { kind: 'already-submitted' };
    form.redSerial = this.storeRed(form, request.attemptKey);
    return { kind: 'accepted', serial: form.redSerial };
  }

  /** The buyer's answer to a 红字确认单 (the sandbox console's button; in production the buyer acts at the 电子税局). */
  confirmRed(confirmId: string, agree: boolean): RedConfirmState['state'] {
    const form = this.redForms.get(confirmId);
    if (!form) return 'not-found';
    if (form.state === 'awaiting-buyer') form.state = agree ? 'confirmed' : 'revoked';
    if (form.state === 'confirmed' && !form.redSerial) form.redSerial = this.storeRed(form, form.request.attemptKey);
    return form.state;
  }

  private redOutcome(form: RedForm): RedLetterOutcome {
    if (form.state === 'awaiting-buyer') return { kind: 'awaiting-buyer', confirmId: form.confirmId };
    if (form.state === 'revoked') return { kind: 'refused', code: 'SANDBOX-REVOKED', reason: '购方已拒绝红字确认单' };
    return { kind: 'issuing', confirmId: form.confirmId, ...(form.redSerial ? { serial: form.redSerial } : {}) };
  }

  /** The red invoice mirrors the blue one's lines with negative amounts, under its own attempt key. */
  private storeRed(form: RedForm, attemptKey: string): string {
    const blue = this.attempts.get(this.byNumber.get(form.request.blue.number)!)!;
    const negate = (n: number) => (n === 0 ? 0 : -n);
    const lines = blue.request.lines.map((l) => ({ ...l, quantity: -l.quantity, totalFen: negate(l.totalFen), amountFen: negate(l.amountFen), taxFen: negate(l.taxFen) }));
    const request: EInvoiceSubmitRequest = { ...blue.request, attemptKey, lines, requestedAt: new Date(this.opts.clock.nowMs()), remark: `被红冲蓝字数电发票号码：${form.request.blue.number}` };
    const attempt = this.store(request, 'issue');
    attempt.redOf = form.request.blue.number;
    return attempt.serial;
  }

  private store(request: EInvoiceSubmitRequest, fate: Fate): Attempt {
    this.counter += 1;
    const now = this.opts.clock.nowMs();
    const serial = `SBX${String(now).slice(-10)}${String(this.counter).padStart(7, '0')}`;
    const attempt: Attempt = { serial, request, readyAtMs: now + this.delay(), fate };
    this.attempts.set(request.attemptKey, attempt);
    this.bySerial.set(serial, request.attemptKey);
    return attempt;
  }

  private fateOf(buyerName: string): Fate {
    if (buyerName.includes('开票失败')) return 'fail';
    if (buyerName.includes('签章失败')) return 'seal-fail';
    const roll = this.opts.random.int(1_000_000) / 1_000_000;
    const fail = this.opts.failureRate ?? 0;
    if (roll < fail) return 'fail';
    if (roll < fail + (this.opts.sealFailureRate ?? 0)) return 'seal-fail';
    return 'issue';
  }

  private delay(): number {
    return this.opts.delayMs ?? 3000;
  }

  /** Numbers the invoice (20 digits: 2-digit year, 44 广东, 15 from randomness + sequence) and renders its files once. */
  private async issue(attempt: Attempt): Promise<void> {
    if (attempt.files) return;
    const issuedAt = new Date(attempt.readyAtMs);
    const yy = String(new Date(attempt.readyAtMs + 8 * 3600_000).getUTCFullYear()).slice(-2);
    const number = attempt.number ?? `${yy}44${String(this.opts.random.int(1_000_000_000)).padStart(9, '0')}${String(this.counter).padStart(7, '0')}`.slice(0, 20);
    const invoice: SandboxInvoice = {
      number, issuedAt, acceptanceNo: attempt.request.acceptanceNo, buyer: attempt.request.buyer, seller: this.opts.seller,
      lines: attempt.request.lines, clerk: this.opts.clerk, ...(attempt.request.remark ? { remark: attempt.request.remark } : {}),
    };
    const pdf = await renderInvoicePdf(invoice, this.opts.font);
    if (attempt.files) return; // a concurrent query finished first
    attempt.number = number;
    attempt.issuedAtMs = issuedAt.getTime();
    attempt.files = { pdf, xml: Buffer.from(renderInvoiceXml(invoice), 'utf8') };
    this.byNumber.set(number, attempt.request.attemptKey);
  }
}
