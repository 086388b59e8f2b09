import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ValidationError } from '../../../src/lib/errors';
import { parseLegacyFile, rejectionReportCsv } from '../../../src/modules/legacy-bindings/importer';

const fixture = (name: string) => readFileSync(join(__dirname, '../../fixtures/legacy', name));

describe('legacy binding file', () => {
  it('When a UTF-8 file with a BOM mixes good and bad lines, then good entries are kept and each bad line is reported with its number and reason', () => {
    const parsed = parseLegacyFile(fixture('mixed.csv'), 'mixed.csv');
    expect(parsed.rows.map((r) => [r.line, r.unionid, r.keyKind, r.keyValue])).toEqual([
      [2, 'oLegacyUnion000000000000001', 'serial', '0a1b2c3d4e5f'],
      [3, 'oLegacyUnion000000000000001', 'media', '9000000000001234'],
      [4, 'oLegacyUnion000000000000002', 'serial', '0a1b2c3d4e5f'],
      [4, 'oLegacyUnion000000000000002', 'media', '9000000000005678'],
      [15, 'oLegacyUnion000000000000007', 'serial', '00ff'],
    ]);
    expect(parsed.rows[0].origin).toBe('mixed.csv:2');
    expect(parsed.rejected.map((r) => [r.line, r.reason])).toEqual([
      [6, expect.stringContaining('unionid 格式不正确')],
      [7, '证书序列号不是十六进制'],
      [8, '介质编号过短（至少 4 位）'],
      [9, '与第 2 行重复'],
      [10, '证书序列号和介质编号都为空（至少填一个）'],
      [11, '缺少 unionid'],
      [12, 'CSV 格式错误：引号不成对'],
      [13, '列数过多（表头 4 列，本行 5 列）'],
    ]);
    // The blank line and Excel's row of bare commas are not data.
    expect(parsed.dataLines).toBe(parsed.rejected.length + 4);
    expect(parsed.ignoredColumns).toEqual(['单位名称']);
  });

  it('When the header uses the Chinese column names in another order, then the columns are found by name', () => {
    const parsed = parseLegacyFile(fixture('chinese-header.csv'), 'c.csv');
    expect(parsed.rows).toEqual([expect.objectContaining({ unionid: 'oLegacyUnion000000000000009', keyKind: 'serial', keyValue: '7f01', line: 2 })]);
    expect(parsed.rejected).toEqual([]);
  });

  it.each([
    ['gbk.csv', /UTF-8/],
    ['no-key-column.csv', /serial.*media_serial/],
  ])('When the file is %s, then the whole file is refused with a message saying what to fix', (name, message) => {
    let error: unknown;
    try {
      parseLegacyFile(fixture(name), name);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).userMessage).toMatch(message);
  });

  it('When the file is empty or UTF-16, then it is refused', () => {
    expect(() => parseLegacyFile(Buffer.from('\n\n'), 'e.csv')).toThrow(ValidationError);
    expect(() => parseLegacyFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('unionid', 'utf16le')]), 'u.csv')).toThrow(/UTF-16/);
  });

  it('When rejected lines are written as a report, then Excel reads them back: BOM, quoting, and no formula runs', () => {
    const csv = rejectionReportCsv([
      { line: 3, reason: '与第 2 行重复', content: 'a,"b"' },
      { line: 9, reason: '缺少 unionid', content: '=HYPERLINK("http://x")' },
    ]);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    const back = parse(csv, { bom: true }) as string[][];
    expect(back).toEqual([
      ['line', 'reason', 'content'],
      ['3', '与第 2 行重复', 'a,"b"'],
      ['9', '缺少 unionid', `'=HYPERLINK("http://x")`],
    ]);
  });
});
