import { toCsv } from '../../../src/lib/http/csv';

describe('toCsv', () => {
  it('When a cell starts with =, +, -, @, tab or CR, then it is prefixed with \' so a spreadsheet shows it as text', () => {
    const csv = toCsv(['a'], [['=HYPERLINK("http://evil")'], ['+1'], ['-2'], ['@SUM(A1)'], ['\tx'], ['\rx']]);
    const lines = csv.slice(1).split('\r\n');
    expect(lines.slice(1, 7)).toEqual(['"\'=HYPERLINK(""http://evil"")"', "'+1", "'-2", "'@SUM(A1)", "'\tx", '"\'\rx"']);
  });

  it('When cells hold commas, quotes, line breaks or Chinese, then they are quoted and doubled, and the file starts with a BOM', () => {
    const csv = toCsv(['单位', '备注'], [['广州,数安', '他说"好"'], ['第一行\n第二行', null], [12.5, undefined]]);
    expect(csv.startsWith('\uFEFF单位,备注\r\n')).toBe(true);
    expect(csv).toContain('"广州,数安","他说""好"""\r\n');
    expect(csv).toContain('"第一行\n第二行",\r\n');
    expect(csv.endsWith('12.5,\r\n')).toBe(true);
  });
});
