import { extname } from 'node:path';
import { ValidationError } from '../../lib/errors';
import { type LineOutcome } from './service';
import { type ParsedStatement, parseStatementCsv } from './statement-file';
import { parseStatementXlsx } from './statement-xlsx';

/**
 * CSV or XLSX by the file's extension; a workbook saved as .csv is named for what it is instead of read as text.
 * Shared by `npm run statements:import` and the console's upload, so both read a file the same way.
 */
export async function readStatement(file: string, bytes: Buffer, opts: { sheet?: string }): Promise<ParsedStatement> {
  const ext = extname(file).toLowerCase();
  if (ext === '.xlsx') return parseStatementXlsx(bytes, opts);
  if (ext === '.xls') throw new ValidationError('文件是旧版 Excel 97-2003（.xls）格式：请在 Excel 中另存为「Excel 工作簿（*.xlsx）」后再导入', 'legacy .xls');
  if (bytes.subarray(0, 2).toString('latin1') === 'PK') throw new ValidationError('文件看起来是 Excel 工作簿：请把扩展名改为 .xlsx 后再导入', 'zip content in a .csv');
  return parseStatementCsv(bytes);
}

export interface StatementReportLine {
  line: number;
  result: LineOutcome['result'] | 'rejected';
  text: string;
}

/** One line per statement line, in file order: what the import did with it (the command prints it, the console shows it). */
export function statementReport(parsed: ParsedStatement, outcomes: LineOutcome[]): StatementReportLine[] {
  return [
    ...parsed.rejected.map((r) => ({ line: r.line, result: 'rejected' as const, text: `格式错误：${r.reason}` })),
    ...outcomes.map((o) => ({
      line: o.line,
      result: o.result,
      text: o.result === 'credited' ? `入账 ${o.orderNo}（流水号 ${o.bankSerial}）`
        : o.result === 'skipped' ? `已导入过，跳过（流水号 ${o.bankSerial}）`
          : `异常 ${o.reason}：${o.message}${o.orderNo ? `（订单 ${o.orderNo}）` : ''}（流水号 ${o.bankSerial}）`,
    })),
  ].sort((a, b) => a.line - b.line);
}
