import { parse } from 'csv-parse/sync';
import { ValidationError } from '../../lib/errors';
import { decodeUtf8 } from '../../lib/text-file';
import { type StatementLine } from './matcher';

/**
 * A bank statement export (收款明细) as CSV (UTF-8) or XLSX (statement-xlsx.ts): a header row, one credit per
 * line. Banks name the columns differently; the aliases below cover the usual ones (README and
 * test/fixtures/statements/sample.csv / sample.xlsx show the format). Each line is judged on its own: a bad line
 * is reported with its number and never hides the rest. Both formats share the header mapping and the checks.
 */
export const COLUMNS = {
  date: ['date', '日期', '交易日期', '记账日期'],
  payerName: ['payer_name', '付款人名称', '付款单位', '对方户名', '对方账户名称', '付款人'],
  payerAccount: ['payer_account', '付款账号', '对方账号', '付款人账号'],
  payerBank: ['payer_bank', '付款行', '对方开户行', '付款人开户行', '对方行名'],
  amount: ['amount', '金额', '贷方金额', '收入金额', '交易金额'],
  remark: ['remark', '附言', '摘要', '备注', '用途'],
  bankSerial: ['bank_serial', '流水号', '交易流水号', '银行流水号'],
} as const;
export type Column = keyof typeof COLUMNS;

export interface StatementRejection { line: number; reason: string }
export interface ParsedStatement { lines: StatementLine[]; rejected: StatementRejection[] }

function fieldsOf(text: string): string[] {
  // Bank exports seldom quote: a line without a quote is its commas (what csv-parse answers, at ~1/20 of its cost,
  // which was 5 s of a 100,000-line statement). A quoted line goes to csv-parse.
  if (!text.includes('"')) return text.split(',').map((f) => f.trim());
  return (parse(text, { relax_column_count: true, trim: true }) as string[][])[0] ?? [];
}

/** Where each column is in the header row; a header lacking one is refused whole, naming what is missing. */
export function columnsOf(header: string[]): Record<Column, number> {
  const found: Partial<Record<Column, number>> = {};
  header.forEach((raw, i) => {
    const name = raw.trim().toLowerCase();
    const column = (Object.keys(COLUMNS) as Column[]).find((c) => (COLUMNS[c] as readonly string[]).includes(name));
    if (column && found[column] === undefined) found[column] = i;
  });
  const missing = (Object.keys(COLUMNS) as Column[]).filter((c) => found[c] === undefined);
  if (missing.length) {
    throw new ValidationError(`表头缺少列：${missing.map((c) => COLUMNS[c][1]).join('、')}`, `statement header lacks ${missing.join(', ')}: ${header.join(',')}`);
  }
  return found as Record<Column, number>;
}

/** The checks every line passes, whatever the file format: a line is either kept or rejected with its reason. */
export function judgeLine(line: number, get: (c: Column) => string, into: ParsedStatement): void {
  const entry: StatementLine = {
    line, date: get('date'), payerName: get('payerName'), payerAccount: get('payerAccount'), payerBank: get('payerBank'),
    amount: get('amount'), remark: get('remark'), bankSerial: get('bankSerial'),
  };
  if (!entry.bankSerial) into.rejected.push({ line, reason: '缺少银行流水号' });
  else if (entry.bankSerial.length > 64) into.rejected.push({ line, reason: '银行流水号过长' });
  else if (!entry.payerName) into.rejected.push({ line, reason: '缺少付款人名称' });
  else into.lines.push(entry);
}

export function parseStatementCsv(bytes: Buffer): ParsedStatement {
  const rows = decodeUtf8(bytes).split(/\r\n|\n|\r/);
  const headerAt = rows.findIndex((r) => r.trim() !== '');
  if (headerAt < 0) throw new ValidationError('文件为空', 'empty statement');
  const columns = columnsOf(fieldsOf(rows[headerAt]));
  const parsed: ParsedStatement = { lines: [], rejected: [] };
  for (let i = headerAt + 1; i < rows.length; i++) {
    if (rows[i].trim() === '') continue;
    const line = i + 1;
    let fields: string[];
    try {
      fields = fieldsOf(rows[i]);
    } catch (err) {
      parsed.rejected.push({ line, reason: `无法解析（${(err as Error).message.slice(0, 80)}）` });
      continue;
    }
    judgeLine(line, (c) => (fields[columns[c]] ?? '').trim(), parsed);
  }
  return parsed;
}
