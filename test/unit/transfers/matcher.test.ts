import { decide, type OpenTransferOrder, type StatementLine } from '../../../src/modules/transfers/matcher';
import { looksFiscal, normaliseText, yuanToFen } from '../../../src/modules/transfers/normalise';
import { drawTransferCode, remarkCode } from '../../../src/modules/transfers/transfer-code';

const ORDER: OpenTransferOrder = { orderNo: 'R20261125abc123', amountFen: 40_000, organizationName: '梅州市示范建设工程（集团）有限公司' };
const line = (over: Partial<StatementLine> = {}): StatementLine => ({
  line: 2, date: '2026-11-25', payerName: '梅州市示范建设工程(集团)有限公司', payerAccount: '44001234567890', payerBank: '中国建设银行梅州分行',
  amount: '400.00', remark: '381902', bankSerial: 'B0001', ...over,
});
const lookup = (seen: string[] = []) => ({ seen: (s: string) => seen.includes(s), openOrderByCode: (c: string) => (c === '381902' ? ORDER : undefined) });

describe('statement matching', () => {
  it('When code, amount and payer all match (brackets and widths aside), then the order is credited', () => {
    expect(decide(line(), lookup())).toEqual({ kind: 'match', orderNo: ORDER.orderNo, amountFen: 40_000 });
    expect(decide(line({ remark: ' ３８１９０２ ', amount: '￥400' }), lookup())).toMatchObject({ kind: 'match' });
  });

  it.each([
    ['remark-not-code', { remark: '381902 证书续期' }],
    ['remark-not-code', { remark: '38190' }],
    ['unknown-code', { remark: '000001' }],
    ['fiscal-payer', { payerName: '梅州市财政局' }],
    ['fiscal-payer', { payerAccount: '零余额账户 4400' }],
    ['amount-mismatch', { amount: '399.99' }],
    ['name-mismatch', { payerName: '梅州市示范建设工程有限公司' }],
    ['bad-amount', { amount: '4OO.00' }],
  ])('When the line has %s, then it becomes an exception with that reason', (reason, over) => {
    expect(decide(line(over as Partial<StatementLine>), lookup())).toMatchObject({ kind: 'exception', reason });
  });

  it('When a fiscal account carries the unit\'s own name, then it still goes to a person', () => {
    expect(decide(line({ payerBank: '国库集中支付中心' }), lookup())).toMatchObject({ kind: 'exception', reason: 'fiscal-payer', orderNo: ORDER.orderNo });
  });

  it('When a bank serial was seen before, then the line is skipped', () => {
    expect(decide(line(), lookup(['B0001']))).toEqual({ kind: 'duplicate' });
  });

  it('When amounts are printed with commas, currency signs or one decimal, then they become exact fen; anything else is refused', () => {
    expect([yuanToFen('1,200.00'), yuanToFen('400.5'), yuanToFen('¥0.01'), yuanToFen('400')]).toEqual([120_000, 40_050, 1, 40_000]);
    expect([yuanToFen('-400'), yuanToFen('400.001'), yuanToFen(''), yuanToFen('1e3')]).toEqual([null, null, null, null]);
  });

  it('When names differ only in width, brackets or spaces, then they normalise alike; fiscal words are found in any field', () => {
    expect(normaliseText('ＡＢＣ（集团） 公司')).toBe(normaliseText('abc(集团)公司'));
    expect(looksFiscal(undefined, '某县国库支付中心')).toBe(true);
    expect(looksFiscal('梅州市某公司')).toBe(false);
  });

  it('When codes are drawn, then they are 6 digits, skip taken ones, and a full space fails loudly', async () => {
    const seq = [5, 123456, 999999];
    const random = { int: () => seq.shift()!, bytes: () => Buffer.alloc(0) };
    expect(await drawTransferCode(random, async (c) => c === '000005')).toBe('123456');
    await expect(drawTransferCode({ int: () => 1, bytes: () => Buffer.alloc(0) }, async () => true)).rejects.toThrow('no free transfer code');
    expect([remarkCode('１２３４５６'), remarkCode('12345a'), remarkCode('1234567')]).toEqual(['123456', null, null]);
  });
});
