import { fenToYuanString, taxRateDecimal, yuanStringToFen } from '../../modules/invoices/amounts';
import { type EInvoiceFiles, type EInvoiceLine, EInvoiceUpstreamError, type QueryOutcome, type RedConfirmState } from './types';

/** Pure translations between Nuonuo's JSON and our provider types (no I/O), so each is unit-tested alone. */

export type Row = Record<string, unknown>;
export const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** Asia/Shanghai wall time (no DST, UTC+8) in Nuonuo's 'yyyy-MM-dd HH:mm:ss'. */
export function shanghaiTime(date: Date): string {
  return new Date(date.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Unit price with up to 8 decimals (Nuonuo's precision), exact for integer quantities. */
function unitPrice(totalFen: number, quantity: number): string {
  if (quantity === 1) return fenToYuanString(totalFen);
  const units = Math.round((totalFen * 1_000_000) / quantity); // 1e-8 yuan
  const whole = Math.floor(units / 100_000_000);
  const fraction = String(units % 100_000_000).padStart(8, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}

/** '*信息技术服务*数字证书服务费' → '数字证书服务费': Nuonuo prefixes the category from the classification code. */
function goodsName(itemName: string): string {
  return itemName.replace(/^\*[^*]+\*/, '');
}

export function nuonuoLine(line: EInvoiceLine): Row {
  if (line.amountFen + line.taxFen !== line.totalFen) throw new RangeError(`invoice line does not add up: ${line.amountFen} + ${line.taxFen} ≠ ${line.totalFen}`);
  return {
    goodsName: goodsName(line.itemName),
    goodsCode: line.taxClassificationCode,
    specType: line.specification ?? '',
    unit: line.unit ?? '',
    num: String(line.quantity),
    withTaxFlag: '1',
    price: unitPrice(line.totalFen, line.quantity),
    taxRate: taxRateDecimal(line.taxRate),
    taxExcludedAmount: fenToYuanString(line.amountFen),
    tax: fenToYuanString(line.taxFen),
    taxIncludedAmount: fenToYuanString(line.totalFen),
  };
}

/** queryInvoiceResult's status: 2 issued, 20 开票中, 21 开票成功签章中, 22 failed, 24 sealing failed, 3/31 voided. */
export function queryOutcome(row: Row): QueryOutcome {
  const serial = str(row.serialNo);
  const attemptKey = str(row.orderNo);
  const status = str(row.status);
  const reason = str(row.failCause) || str(row.statusMsg);
  switch (status) {
    case '20':
    case '21':
      return { state: 'in-progress', serial, attemptKey };
    case '22':
      return { state: 'failed', serial, attemptKey, reason: reason || '开票失败' };
    case '24':
      return { state: 'sealing-failed', serial, attemptKey, reason: reason || '签章失败' };
    case '3':
    case '31':
      return { state: 'failed', serial, attemptKey, reason: '发票已作废' };
    case '2':
      break;
    default:
      throw new EInvoiceUpstreamError('unexpected-status', `Nuonuo invoice ${serial}: unknown status ${status} ${reason}`);
  }
  // The 数电票 number comes as allElectronicInvoiceNumber (one SDK spells it ...Numbe); old invoices use invoiceNo + invoiceCode.
  const digital = str(row.allElectronicInvoiceNumber) || str(row.allElectronicInvoiceNumbe);
  const files: EInvoiceFiles = {};
  if (str(row.pdfUrl)) files.pdf = { url: str(row.pdfUrl) };
  if (str(row.ofdUrl)) files.ofd = { url: str(row.ofdUrl) };
  if (str(row.xmlUrl)) files.xml = { url: str(row.xmlUrl) };
  const invoiceTime = Number(row.invoiceTime);
  if (!Number.isFinite(invoiceTime) || invoiceTime <= 0) throw new EInvoiceUpstreamError('no-invoice-time', `Nuonuo invoice ${serial}: issued without invoiceTime`);
  return {
    state: 'issued',
    serial,
    attemptKey,
    ...(/^\d{20}$/.test(digital) ? { kind: 'digital' as const, number: digital } : { kind: 'legacy' as const, number: str(row.invoiceNo), code: str(row.invoiceCode) || undefined }),
    issuedAt: new Date(invoiceTime),
    totalFen: yuanStringToFen(str(row.orderAmount) || '0'),
    taxFen: yuanStringToFen(str(row.taxAmount) || '0'),
    files,
  };
}

/** The bureau's 红字确认单 states: 01 无需确认, 02/03 待对方确认, 04 双方已确认, 05–10 作废, 15 申请中, 16 申请失败. */
export function redConfirmState(confirmId: string, form: Row): RedConfirmState {
  const status = str(form.billStatus);
  const message = str(form.billMessage);
  if (status === '01' || status === '04') {
    const redSerial = str(form.invoiceSerialNum) || undefined;
    const redNumber = str(form.redInvoiceNumber) || undefined;
    return { state: 'confirmed', confirmId, ...(redSerial ? { redSerial } : {}), ...(redNumber ? { redNumber } : {}) };
  }
  if (status === '02' || status === '03') return { state: 'awaiting-buyer', confirmId };
  if (['05', '06', '07', '08', '09', '10'].includes(status)) return { state: 'revoked', confirmId, reason: message || `红字确认单已作废（${status}）` };
  if (status === '16') return { state: 'failed', confirmId, reason: message || '红字确认单申请失败' };
  return { state: 'applying', confirmId };
}
