import { parseStatementCsv } from '../../../src/modules/transfers/statement-file';

/** CSV lines without a quote are split directly (csv-parse per line was 5 s of a 100,000-line statement): same result. */
const header = '交易日期,付款人名称,付款账号,付款行,金额,附言,流水号';

describe('statement CSV lines', () => {
  it('When a line has no quotes, then its fields are its commas, trimmed, with empty fields kept', () => {
    const parsed = parseStatementCsv(Buffer.from(`${header}\n 2026-12-01 , 梅州市某单位（集团）有限公司 ,4400, 建设银行 ,"1,200.00",123456,S1\n2026-12-01,梅州市某单位,,,400.00,,S2\n`));
    expect(parsed.rejected).toEqual([]);
    expect(parsed.lines[0]).toEqual({ line: 2, date: '2026-12-01', payerName: '梅州市某单位（集团）有限公司', payerAccount: '4400', payerBank: '建设银行', amount: '1,200.00', remark: '123456', bankSerial: 'S1' });
    expect(parsed.lines[1]).toMatchObject({ line: 3, payerAccount: '', payerBank: '', amount: '400.00', remark: '', bankSerial: 'S2' });
  });

  it('When a line carries quotes, then csv-parse reads it, and a broken one is rejected with its line number while the rest is kept', () => {
    const parsed = parseStatementCsv(Buffer.from(`${header}\n2026-12-01,"梅州市某单位,分公司",4400,建设银行,400.00,123456,S3\n2026-12-01,"梅州市某单位,4400,建设银行,400.00,123456,S4\n2026-12-01,梅州市某单位,4400,建设银行,400.00,123456,S5`));
    expect(parsed.lines.map((l) => [l.line, l.payerName, l.bankSerial])).toEqual([[2, '梅州市某单位,分公司', 'S3'], [4, '梅州市某单位', 'S5']]);
    expect(parsed.rejected.map((r) => r.line)).toEqual([3]);
  });
});
