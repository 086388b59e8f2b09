import { type Clock, nowSeconds, type Random } from '../../lib/clock';
import { nuonuoLine, queryOutcome, redConfirmState, type Row, shanghaiTime, str } from './nuonuo-mapping';
import { signNuonuo } from './nuonuo-sign';
import { yuanStringToFen } from '../../modules/invoices/amounts';
import {
  ATTEMPT_KEY, type EInvoiceProvider, type IssuerStatus, type EInvoiceSubmitRequest, EInvoiceUpstreamError,
  type InvoiceRef, type IssueRedRequest, type QueryOutcome, type RedConfirmState, type RedLetterOutcome, type RedLetterRequest,
  type RedReason, type ReInvoiceOutcome, type SubmitOutcome,
} from './types';

/**
 * The Nuonuo (诺诺, 诺税通 SaaS) open platform client for 数电票. One POST endpoint, the API named in the `method`
 * header, answers `{code, describe, result}` with code E0000 on success. There is no vendor sandbox for 数电:
 * 联调 runs on production with a test account the vendor issues.
 *
 * Codes used beyond E0000 come from two independent third-party clients (Odoo's l10n_cn_edi Nuonuo client, which
 * cites the vendor's 联调参考, and the issue's notes), not from a published vendor list we could read: E9106
 * 订单编号或流水号不能重复 (already submitted → query), E9500 no such invoice, E9613 reInvoice daily limit, and
 * 070xxx gateway credential errors. The duplicate is also recognised by its text in case the code differs.
 */

export const NUONUO_METHODS = {
  submit: 'nuonuo.OpeMplatform.requestBillingNew',
  query: 'nuonuo.OpeMplatform.queryInvoiceResult',
  reInvoice: 'nuonuo.OpeMplatform.reInvoice',
  saveRedConfirm: 'nuonuo.OpeMplatform.saveInvoiceRedConfirm',
  queryRedConfirm: 'nuonuo.OpeMplatform.queryInvoiceRedConfirm',
  fastRed: 'nuonuo.OpeMplatform.fastInvoiceRed',
  /** 开票员 login / 实人认证 and 授信额度: names from a third-party client (docs/einvoice-nuonuo.md), confirm at 联调. */
  certificationStatus: 'nuonuo.OpeMplatform.getCertificationStatus',
  creditLine: 'nuonuo.OpeMplatform.getCreditLine',
} as const;

const SUCCESS = 'E0000';
const DUPLICATE_ORDER = 'E9106';
const NOT_FOUND = 'E9500';
const CREDENTIAL_ERRORS = new Set(['070101', '070304', '070305', '070306', '070307']);
const DUPLICATE_TEXT = /(订单|流水)[^，,。]*(重复|已存在|已使用)/;
const ALREADY_ISSUED_TEXT = /已生成|无需再重试/;
const RED_REASONS: Record<RedReason, string> = { 'sales-return': '1', 'issued-in-error': '2', 'service-stopped': '3', 'sales-allowance': '4' };

export interface NuonuoOptions {
  /** https://sdk.nuonuo.com/open/v1/services in production. */
  url: string;
  appKey: string;
  appSecret: string;
  /** The 自用型应用 token (24 h, from open.nuonuo.com/accessToken); the caller keeps and refreshes it. */
  accessToken: () => Promise<string>;
  seller: { taxId: string; name: string; phone?: string; address?: string; bankAccount?: string };
  /** 开票员 as registered at the 电子税局 (its name must match the account logged in there). */
  clerk: string;
  extensionNumber?: string;
  callbackUrl?: string;
  /** True: Nuonuo also mails/texts the invoice. False (default): we deliver it ourselves, so the buyer gets one mail. */
  providerDelivers?: boolean;
  clock: Clock;
  random: Random;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

interface NuonuoAnswer {
  code: string;
  describe: string;
  result: unknown;
}

export class NuonuoClient implements EInvoiceProvider {
  readonly mode = 'real' as const;
  private readonly path: string;

  constructor(private readonly opts: NuonuoOptions) {
    this.path = new URL(opts.url).pathname;
  }

  /** The `order` object of requestBillingNew (exported through the class for tests of the mapping). */
  orderFor(request: EInvoiceSubmitRequest): Row {
    const { buyer, seller } = { buyer: request.buyer, seller: this.opts.seller };
    const bank = [buyer.bankName, buyer.bankAccount].filter(Boolean).join(' ');
    const push = this.opts.providerDelivers ? (buyer.mobile ? '2' : '0') : '-1';
    return {
      orderNo: request.attemptKey,
      invoiceDate: shanghaiTime(request.requestedAt),
      invoiceType: '1',
      invoiceLine: 'pc',
      buyerName: buyer.name,
      buyerTaxNum: buyer.taxId ?? '',
      buyerTel: buyer.phone ?? '',
      buyerAddress: buyer.address ?? '',
      buyerAccount: bank,
      email: buyer.email,
      buyerPhone: buyer.mobile ?? '',
      naturalPersonFlag: buyer.kind === 'individual' ? '1' : '0',
      // 2 = print the buyer's 开户行及账号 in 备注 (数电 has no bank box on the face of the invoice).
      showBankAccountType: bank ? '2' : '0',
      salerTaxNum: seller.taxId,
      salerTel: seller.phone ?? '',
      salerAddress: seller.address ?? '',
      salerAccount: seller.bankAccount ?? '',
      clerk: this.opts.clerk,
      extensionNumber: this.opts.extensionNumber ?? '',
      pushMode: push,
      callBackUrl: this.opts.callbackUrl ?? '',
      remark: [`受理单号 ${request.acceptanceNo}`, request.remark].filter(Boolean).join('；'),
      invoiceDetail: request.lines.map(nuonuoLine),
    };
  }

  /**
   * The clerk's login and 实人认证 state and the credit line. Both answers are read leniently (field names are
   * not in a published list we could read): what is not recognised is reported as unknown, with the raw words.
   */
  async issuerStatus(): Promise<IssuerStatus> {
    const common = { taxNum: this.opts.seller.taxId, account: this.opts.clerk, extensionNumber: this.opts.extensionNumber ?? '' };
    const cert = await this.call(NUONUO_METHODS.certificationStatus, common);
    const credit = await this.call(NUONUO_METHODS.creditLine, common);
    const c = (cert.result ?? {}) as Row;
    const k = (credit.result ?? {}) as Row;
    const flag = (v: unknown) => str(v).toLowerCase();
    const login = ['1', 'true', 'y'].includes(flag(c.loginStatus ?? c.isLogin)) ? 'logged-in' : ['0', 'false', 'n'].includes(flag(c.loginStatus ?? c.isLogin)) ? 'logged-out' : 'unknown';
    const identityCheck = ['1', 'true', 'y'].includes(flag(c.certificationStatus ?? c.isCertified)) ? 'valid' : ['0', 'false', 'n'].includes(flag(c.certificationStatus ?? c.isCertified)) ? 'required' : 'unknown';
    const fen = (v: unknown) => { try { return str(v) ? yuanStringToFen(str(v)) : null; } catch { return null; } };
    return {
      clerk: this.opts.clerk, login, identityCheck, creditLeftFen: fen(k.surplusCreditLine ?? k.availableCreditLine), creditTotalFen: fen(k.totalCreditLine ?? k.creditLine),
      detail: `${cert.code} ${cert.describe}; ${credit.code} ${credit.describe}`,
    };
  }

  async submit(request: EInvoiceSubmitRequest): Promise<SubmitOutcome> {
    if (!ATTEMPT_KEY.test(request.attemptKey)) throw new RangeError(`attempt key not usable as a Nuonuo orderNo: ${request.attemptKey}`);
    if (request.lines.length === 0) throw new RangeError('an invoice needs at least one line');
    const answer = await this.call(NUONUO_METHODS.submit, { order: this.orderFor(request) });
    if (answer.code === SUCCESS) {
      const serial = str((answer.result as Row | null)?.invoiceSerialNum);
      if (!serial) throw new EInvoiceUpstreamError('no-serial', `Nuonuo accepted ${request.attemptKey} without an invoiceSerialNum`);
      return { kind: 'accepted', serial };
    }
    if (answer.code === DUPLICATE_ORDER || DUPLICATE_TEXT.test(answer.describe)) return { kind: 'already-submitted' };
    return { kind: 'refused', code: answer.code, reason: answer.describe };
  }

  async query(ref: InvoiceRef): Promise<QueryOutcome> {
    const payload = 'serial' in ref ? { serialNos: [ref.serial] } : { orderNos: [ref.attemptKey] };
    const answer = await this.call(NUONUO_METHODS.query, { ...payload, isOfferInvoiceDetail: '0' });
    if (answer.code === NOT_FOUND) return { state: 'not-found' };
    if (answer.code !== SUCCESS) throw new EInvoiceUpstreamError(answer.code, `Nuonuo query ${JSON.stringify(ref)}: ${answer.code} ${answer.describe}`);
    const rows = Array.isArray(answer.result) ? (answer.result as Row[]) : [];
    const row = rows[0];
    if (!row) return { state: 'not-found' };
    return queryOutcome(row);
  }

  async reInvoice(serial: string): Promise<ReInvoiceOutcome> {
    const answer = await this.call(NUONUO_METHODS.reInvoice, { fpqqlsh: serial });
    if (answer.code === SUCCESS) return ALREADY_ISSUED_TEXT.test(answer.describe) ? { kind: 'already-issued' } : { kind: 'retrying' };
    if (ALREADY_ISSUED_TEXT.test(answer.describe)) return { kind: 'already-issued' };
    return { kind: 'refused', code: answer.code, reason: answer.describe };
  }

  async requestRedLetter(request: RedLetterRequest): Promise<RedLetterOutcome> {
    const { blue, buyer } = request;
    const answer = await this.call(NUONUO_METHODS.saveRedConfirm, {
      billId: request.confirmId,
      blueInvoiceLine: 'pc',
      applySource: '0',
      ...(blue.kind === 'digital' ? { blueElecInvoiceNumber: blue.number } : { blueInvoiceNumber: blue.number, blueInvoiceCode: blue.code ?? '' }),
      sellerTaxNo: this.opts.seller.taxId,
      sellerName: this.opts.seller.name,
      buyerTaxNo: buyer.taxId ?? '',
      buyerName: buyer.name,
      redReason: RED_REASONS[request.reason],
      extensionNumber: this.opts.extensionNumber ?? '',
      // Issue the red invoice by itself once no confirmation is needed or both sides confirmed, under this order number.
      autoInvoice: '1',
      orderNo: request.attemptKey,
      email: buyer.email,
      phone: buyer.mobile ?? '',
    });
    // A resent billId is refused as a duplicate: the form exists, so its state is read back either way.
    const state = await this.queryRedConfirm(request.confirmId);
    if (answer.code !== SUCCESS && state.state === 'not-found') return { kind: 'refused', code: answer.code, reason: answer.describe };
    switch (state.state) {
      case 'awaiting-buyer':
        return { kind: 'awaiting-buyer', confirmId: request.confirmId };
      case 'revoked':
      case 'failed':
        return { kind: 'refused', code: state.state, reason: state.reason };
      case 'confirmed':
        return { kind: 'issuing', confirmId: request.confirmId, serial: state.redSerial };
      default:
        return { kind: 'issuing', confirmId: request.confirmId };
    }
  }

  async queryRedConfirm(confirmId: string): Promise<RedConfirmState> {
    const answer = await this.call(NUONUO_METHODS.queryRedConfirm, { identity: '0', billId: confirmId });
    if (answer.code !== SUCCESS) throw new EInvoiceUpstreamError(answer.code, `Nuonuo red confirm ${confirmId}: ${answer.code} ${answer.describe}`);
    const list = ((answer.result as Row | null)?.list ?? []) as Row[];
    const form = list[0];
    if (!form) return { state: 'not-found' };
    return redConfirmState(confirmId, form);
  }

  async issueRed(request: IssueRedRequest): Promise<SubmitOutcome> {
    const list = ((await this.call(NUONUO_METHODS.queryRedConfirm, { identity: '0', billId: request.confirmId })).result as Row | null)?.list as Row[] | undefined;
    const form = list?.[0] ?? {};
    const answer = await this.call(NUONUO_METHODS.fastRed, {
      orderNo: request.attemptKey,
      taxNum: this.opts.seller.taxId,
      ...(request.blue.kind === 'digital' ? { elecInvoiceNumber: request.blue.number } : { invoiceNumber: request.blue.number, invoiceCode: request.blue.code ?? '' }),
      billNo: str(form.billNo),
      billUuid: str(form.billUuid),
      invoiceLine: 'pc',
      extensionNumber: this.opts.extensionNumber ?? '',
      callBackUrl: this.opts.callbackUrl ?? '',
    });
    if (answer.code === SUCCESS) return { kind: 'accepted', serial: str((answer.result as Row | null)?.invoiceSerialNum) };
    if (answer.code === DUPLICATE_ORDER || DUPLICATE_TEXT.test(answer.describe)) return { kind: 'already-submitted' };
    return { kind: 'refused', code: answer.code, reason: answer.describe };
  }

  /** One signed call. Transport, HTTP and credential failures throw (retry later); business codes are returned. */
  private async call(method: string, payload: unknown): Promise<NuonuoAnswer> {
    const { opts } = this;
    const body = JSON.stringify(payload);
    const senid = opts.random.bytes(16).toString('hex');
    const nonce = String(10_000_000 + opts.random.int(90_000_000));
    const timestamp = String(nowSeconds(opts.clock));
    const sign = signNuonuo({ path: this.path, appKey: opts.appKey, appSecret: opts.appSecret, senid, nonce, timestamp, body });
    const url = new URL(opts.url);
    for (const [k, v] of Object.entries({ senid, nonce, timestamp, appkey: opts.appKey })) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=UTF-8', 'X-Nuonuo-Sign': sign, accessToken: await opts.accessToken(), userTax: opts.seller.taxId, method },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      });
    } catch (cause) {
      throw new EInvoiceUpstreamError('transport', `Nuonuo ${method}: ${(cause as Error).message}`, { cause });
    }
    const text = await res.text();
    if (!res.ok) throw new EInvoiceUpstreamError(`http-${res.status}`, `Nuonuo ${method}: HTTP ${res.status} ${text.slice(0, 200)}`);
    let parsed: Row;
    try {
      parsed = JSON.parse(text) as Row;
    } catch (cause) {
      throw new EInvoiceUpstreamError('bad-json', `Nuonuo ${method}: not JSON: ${text.slice(0, 200)}`, { cause });
    }
    const answer = { code: str(parsed.code), describe: str(parsed.describe), result: parsed.result };
    if (CREDENTIAL_ERRORS.has(answer.code)) throw new EInvoiceUpstreamError(answer.code, `Nuonuo refused the app credentials (${answer.code} ${answer.describe})`);
    return answer;
  }
}
