import { nuonuoLine, queryOutcome, redConfirmState, shanghaiTime } from '../../../src/providers/einvoice/nuonuo-mapping';
import { EInvoiceUpstreamError } from '../../../src/providers/einvoice/types';

const line = { itemName: '*信息技术服务*数字证书服务费', taxClassificationCode: '3040201990000000000', quantity: 1, taxRate: 600, totalFen: 20000, amountFen: 18868, taxFen: 1132 };

describe('Nuonuo mapping', () => {
  it('When a time is sent, then it is Beijing wall time whatever the server zone', () => {
    expect(shanghaiTime(new Date('2025-12-31T16:30:05Z'))).toBe('2026-01-01 00:30:05');
  });

  it('When a line has three of a kind, then the unit price has up to 8 decimals and the amounts stay exact', () => {
    expect(nuonuoLine({ ...line, quantity: 3, totalFen: 20000, amountFen: 18868, taxFen: 1132 })).toMatchObject({ num: '3', price: '66.66666667', taxIncludedAmount: '200.00' });
  });

  it('When a line does not add up, then it is refused before it reaches the provider', () => {
    expect(() => nuonuoLine({ ...line, taxFen: 1131 })).toThrow(RangeError);
  });

  it('When an old-style invoice is reported issued, then it keeps its 8-digit number and 12-digit code', () => {
    expect(queryOutcome({ serialNo: 'S1', orderNo: 'O1', status: '2', invoiceNo: '12345678', invoiceCode: '044031900111', invoiceTime: 1700000000000, orderAmount: '200.00', taxAmount: '11.32', pdfUrl: 'https://x/a.pdf' })).toEqual({
      state: 'issued', serial: 'S1', attemptKey: 'O1', kind: 'legacy', number: '12345678', code: '044031900111', issuedAt: new Date(1700000000000), totalFen: 20000, taxFen: 1132, files: { pdf: { url: 'https://x/a.pdf' } },
    });
  });

  it('When the SDK spelling allElectronicInvoiceNumbe is used, then the 20-digit number is still found, XML included', () => {
    expect(queryOutcome({ serialNo: 'S1', orderNo: 'O1', status: '2', allElectronicInvoiceNumbe: '26332000000123456789', invoiceTime: 1700000000000, orderAmount: '200', taxAmount: '11.32', xmlUrl: 'https://x/a.xml' })).toMatchObject({ kind: 'digital', number: '26332000000123456789', files: { xml: { url: 'https://x/a.xml' } } });
  });

  it.each(['3', '31'])('When the invoice was voided (%s), then it is failed, not issued', (status) => {
    expect(queryOutcome({ serialNo: 'S', orderNo: 'O', status })).toEqual({ state: 'failed', serial: 'S', attemptKey: 'O', reason: '发票已作废' });
  });

  it('When the status is unknown, then the client throws so the job retries and operators see it', () => {
    expect(() => queryOutcome({ serialNo: 'S', orderNo: 'O', status: '99' })).toThrow(EInvoiceUpstreamError);
  });

  it('When issued without an invoice time, then it is not taken as issued', () => {
    expect(() => queryOutcome({ serialNo: 'S', orderNo: 'O', status: '2', allElectronicInvoiceNumber: '26332000000123456789' })).toThrow(EInvoiceUpstreamError);
  });

  it.each([
    ['01', { state: 'confirmed', confirmId: 'C' }],
    ['04', { state: 'confirmed', confirmId: 'C' }],
    ['02', { state: 'awaiting-buyer', confirmId: 'C' }],
    ['03', { state: 'awaiting-buyer', confirmId: 'C' }],
    ['07', { state: 'revoked', confirmId: 'C', reason: '红字确认单已作废（07）' }],
    ['16', { state: 'failed', confirmId: 'C', reason: '红字确认单申请失败' }],
    ['15', { state: 'applying', confirmId: 'C' }],
  ])('When the 红字确认单 status is %s, then it maps to %j', (billStatus, expected) => {
    expect(redConfirmState('C', { billStatus })).toEqual(expected);
  });
});
