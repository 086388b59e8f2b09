import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStatement } from '../../../src/cli/import-statement';
import { parseStatementCsv } from '../../../src/modules/transfers/statement-file';
import { constants, deflateRawSync } from 'node:zlib';
import { cellText, MAX_XLSX_BYTES, MAX_XLSX_UNPACKED_BYTES, parseStatementXlsx } from '../../../src/modules/transfers/statement-xlsx';
import { xlsxBytes } from '../../helpers/xlsx';

/** Bank statements as Excel workbooks: read like the CSV, with Excel's numbers and dates turned back into text. */
const fixtures = join(__dirname, '../../fixtures/statements');
const HEADER = ['交易日期', '付款人名称', '付款账号', '付款行', '金额', '附言', '流水号'];
const day = (y: number, m: number, d: number, h = 0, min = 0) => ({ value: new Date(Date.UTC(y, m - 1, d, h, min)), format: h || min ? 'yyyy-mm-dd hh:mm' : 'yyyy-mm-dd' });

/**
 * A zip whose one worksheet inflates to `inflatedMb` MB of zeros while its local header and central directory both
 * claim 1,000 bytes. The deflate stream is one fully flushed 1 MB segment repeated (each starts afresh, so copies
 * chain), closed by an empty final block: built in microseconds, never holding the inflated data.
 */
function lyingZip(inflatedMb: number): Buffer {
  const segment = deflateRawSync(Buffer.alloc(1024 * 1024), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const data = Buffer.concat([...Array.from({ length: inflatedMb }, () => segment), Buffer.from([0x03, 0x00])]);
  const name = Buffer.from('xl/worksheets/sheet1.xml');
  const CLAIMED = 1000;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(CLAIMED, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(CLAIMED, 24);
  central.writeUInt16LE(name.length, 28);
  const centralAt = local.length + name.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralAt, 16);
  return Buffer.concat([local, name, data, central, name, end]);
}

describe('XLSX bank statements', () => {
  it('When a workbook lies about its unpacked size (a zip bomb), then it is refused with a clear message and memory stays low (the inflater stops at the limit)', async () => {
    const bomb = lyingZip(2048);
    expect(bomb.length).toBeLessThan(MAX_XLSX_BYTES); // 2 GB inside a file the size check lets through
    const rssBefore = process.memoryUsage().rss;
    await expect(parseStatementXlsx(bomb)).rejects.toMatchObject({ userMessage: `文件解压后超过 ${MAX_XLSX_UNPACKED_BYTES / 1048576} MB，不像银行流水：请检查文件，或按日期分段导出` });
    // Counting stops the inflater at the limit: what it produced is bounded by the limit, not by the 300 MB inside.
    // RSS is the whole worker's (other tests, GC timing): bounded by a few times the limit, far below the 2 GB inside.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(3 * MAX_XLSX_UNPACKED_BYTES);
  });

  it('When the XLSX sample is read, then it gives the same lines as the CSV sample', async () => {
    const csv = parseStatementCsv(readFileSync(join(fixtures, 'sample.csv')));
    const xlsx = await parseStatementXlsx(readFileSync(join(fixtures, 'sample.xlsx')));
    expect(xlsx).toEqual(csv);
    expect(xlsx.lines).toHaveLength(2);
    expect(xlsx.lines[1]).toMatchObject({ line: 3, date: '2026-11-25', payerAccount: '44009876543210000', amount: '200.00', remark: '604417', bankSerial: 'BOC20261125000002' });
  });

  it('When amounts and dates are Excel numbers and dates, then they read as yuan to the fen and as the written date', async () => {
    const rows = [
      HEADER,
      [day(2026, 11, 25), '甲公司', '4400100', '建设银行', 400, '381902', 'S1'],
      [day(2026, 11, 25, 23, 30), '乙公司', '4400200', '工商银行', 400.5, 381903, 'S2'],
      [46351, '丙公司', 4400300, '中国银行', 0.1 + 0.2, '000001', 123456789012345],
      [null, null, null, null, null, null, null],
      ['2026/11/26', '丁公司', '4400400', '农业银行', 1200.505, '000002', 'S4'],
      ['2026-11-26', '戊公司', '4400500', '农业银行', { value: 1234567.8, format: '#,##0.00' }, '000003', 'S5'],
    ];
    const parsed = await parseStatementXlsx(await xlsxBytes(rows));
    expect(parsed.rejected).toEqual([]);
    expect(parsed.lines.map((l) => [l.line, l.date, l.amount, l.remark, l.payerAccount, l.bankSerial])).toEqual([
      [2, '2026-11-25', '400.00', '381902', '4400100', 'S1'],
      // A date-time late in the evening stays on its day (Excel dates are wall-clock China time, not UTC).
      [3, '2026-11-25', '400.50', '381903', '4400200', 'S2'],
      // An unformatted number in the date column is kept as written; 0.1 + 0.2 is 0.30, not 0.30000000000000004.
      [4, '46351', '0.30', '000001', '4400300', '123456789012345'],
      // Not a whole number of fen: kept as written, so the matcher reports bad-amount instead of rounding money.
      [6, '2026/11/26', '1200.505', '000002', '4400400', 'S4'],
      [7, '2026-11-26', '1234567.80', '000003', '4400500', 'S5'],
    ]);
  });

  it('When a bank serial was stored by Excel as a number longer than 15 digits, then the line is refused with the fix and the rest is read', async () => {
    const rows = [
      HEADER,
      ['2026-11-25', '甲公司', '4400100', '建设银行', 400, '381902', 12345678901234567890],
      ['2026-11-25', '乙公司', 44001234567890123, '工商银行', 200, '604417', 'S2'],
      ['2026-11-25', '丙公司', '4400300', '中国银行', 100, '000001', 'S3'],
    ];
    const parsed = await parseStatementXlsx(await xlsxBytes(rows));
    expect(parsed.lines.map((l) => l.bankSerial)).toEqual(['S3']);
    expect(parsed.rejected.map((r) => r.line)).toEqual([2, 3]);
    expect(parsed.rejected[0].reason).toMatch(/^流水号在 Excel 中存成了数字（.+），超过 15 位的数字已丢失精度：请把该列设为「文本」格式/);
    expect(parsed.rejected[1].reason).toMatch(/^付款账号在 Excel 中存成了数字/);
  });

  it('When lines lack a serial or a payer, or the header lacks a column, then they are judged exactly as in a CSV', async () => {
    const parsed = await parseStatementXlsx(await xlsxBytes([
      [null], ['日期', 'payer_name', '对方账号', '对方行名', '贷方金额', '摘要', '交易流水号'],
      ['2026-11-25', '甲公司', '1', '建设银行', 1, '381902', ''],
      ['2026-11-25', '', '1', '建设银行', 1, '381902', 'S2'],
      ['2026-11-25', '甲公司', '1', '建设银行', 1, '381902', 'X'.repeat(65)],
    ]));
    expect(parsed).toEqual({ lines: [], rejected: [{ line: 3, reason: '缺少银行流水号' }, { line: 4, reason: '缺少付款人名称' }, { line: 5, reason: '银行流水号过长' }] });
    await expect(parseStatementXlsx(await xlsxBytes([['交易日期', '付款人名称', '金额']]))).rejects.toMatchObject({ userMessage: '表头缺少列：付款账号、付款行、附言、流水号' });
  });

  it('When the workbook has several worksheets, then the first is read, or the one named', async () => {
    const bytes = await xlsxBytes([HEADER, ['2026-11-25', '甲公司', '1', '建设银行', 1, '381902', 'FIRST']], '收款', [{ sheet: '付款', rows: [HEADER, ['2026-11-25', '乙公司', '1', '建设银行', 1, '381902', 'SECOND']] }]);
    expect((await parseStatementXlsx(bytes)).lines.map((l) => l.bankSerial)).toEqual(['FIRST']);
    expect((await parseStatementXlsx(bytes, { sheet: '付款' })).lines.map((l) => l.bankSerial)).toEqual(['SECOND']);
    await expect(parseStatementXlsx(bytes, { sheet: '汇总' })).rejects.toMatchObject({ userMessage: '工作簿里没有名为「汇总」的工作表' });
  });

  it('When a file that is not a workbook is named .xlsx, then it is refused with a clear message', async () => {
    const notXlsx = /^文件不是 Excel 工作簿（\.xlsx）：请用 Excel 打开银行导出的文件，另存为「Excel 工作簿（\*\.xlsx）」或「CSV UTF-8（逗号分隔）」后再导入$/;
    await expect(readStatement('statement.xlsx', readFileSync(join(fixtures, 'sample.csv')), {})).rejects.toMatchObject({ userMessage: expect.stringMatching(notXlsx) });
    await expect(parseStatementXlsx(Buffer.from('PK\u0003\u0004 truncated zip'))).rejects.toMatchObject({ userMessage: expect.stringMatching(notXlsx) });
    await expect(parseStatementXlsx(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))).rejects.toMatchObject({ userMessage: expect.stringContaining('（.xls）') });
    await expect(parseStatementXlsx(Buffer.alloc(MAX_XLSX_BYTES + 1))).rejects.toMatchObject({ userMessage: expect.stringContaining('文件过大') });
    // The other way round: a workbook saved with a .csv name is named for what it is.
    await expect(readStatement('statement.csv', readFileSync(join(fixtures, 'sample.xlsx')), {})).rejects.toMatchObject({ userMessage: '文件看起来是 Excel 工作簿：请把扩展名改为 .xlsx 后再导入' });
  });

  it('When single cells are converted, then identifiers stay exact up to 15 digits and amounts never drift', () => {
    expect(cellText('bankSerial', 999999999999999)).toEqual({ text: '999999999999999' });
    expect(cellText('bankSerial', 1e15)).toMatchObject({ refused: expect.stringContaining('流水号') });
    expect(cellText('remark', 1e15)).toEqual({ text: '1000000000000000' });
    expect(cellText('amount', 400.49999999999994)).toEqual({ text: '400.50' });
    expect(cellText('amount', 19.99)).toEqual({ text: '19.99' });
    expect(cellText('amount', 1.005)).toEqual({ text: '1.005' });
    expect(cellText('remark', 381902)).toEqual({ text: '381902' });
  });
});
