import { InvalidInputError, InvalidSpreadsheetError, readSheet, SheetNotFoundError } from 'read-excel-file/node';
import { storedZip, unzipBounded, ZipTooLargeError, ZipUnreadableError } from '../../lib/bounded-unzip';
import { ValidationError } from '../../lib/errors';
import { type Column, columnsOf, judgeLine, type ParsedStatement } from './statement-file';

/**
 * A bank statement export as an Excel workbook (.xlsx), read with read-excel-file: the first worksheet (or the
 * one named), the same header aliases and per-line checks as the CSV reader. Excel keeps numbers and dates as
 * numbers, so cells are turned back into the text the bank printed:
 * - amounts: the number as Excel stored it (its raw decimal text, never a float sum) rounded to the fen only when
 *   it is a whole number of fen up to float noise (400.49999999999994 → 400.50); anything else keeps its text and
 *   the matcher calls it bad-amount;
 * - dates: Excel's date has no zone, it is the wall-clock date the bank (in China) wrote, so it is read as such;
 * - serials and account numbers stored as numbers: exact up to 15 digits; a longer one has already lost digits in
 *   Excel (doubles keep ~15-17), so the line is refused with the fix (format the column as text).
 */
export const MAX_XLSX_BYTES = 10 * 1024 * 1024;
/** What the workbook's parts may unpack to, counted while inflating (a statement is a few MB of XML at most). */
export const MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024;

/** A numeric cell as Excel stored it (the <v> text), so no precision is lost before we look at it. */
class ExcelNumber {
  constructor(readonly text: string) {}
}
type Cell = string | number | boolean | Date | ExcelNumber | null;

const NOT_XLSX = '文件不是 Excel 工作簿（.xlsx）：请用 Excel 打开银行导出的文件，另存为「Excel 工作簿（*.xlsx）」或「CSV UTF-8（逗号分隔）」后再导入';
const IDENTIFIERS: readonly Column[] = ['bankSerial', 'payerAccount'];
const LABEL: Record<Column, string> = { date: '日期', payerName: '付款人名称', payerAccount: '付款账号', payerBank: '付款行', amount: '金额', remark: '附言', bankSerial: '流水号' };

const ymd = (d: Date) => d.toISOString().slice(0, 10);

/** Fen as yuan text without going through a float: 40050 → '400.50'. */
function fenToYuan(fen: number): string {
  const abs = Math.abs(fen);
  return `${fen < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** A cell as the text the CSV would have held, or the reason the line cannot be trusted. */
export function cellText(column: Column, cell: Cell): { text: string } | { refused: string } {
  if (cell === null || cell === undefined) return { text: '' };
  if (typeof cell === 'string') return { text: cell.trim() };
  if (typeof cell === 'boolean') return { text: cell ? 'TRUE' : 'FALSE' };
  // Excel dates are zone-less wall-clock values; the library hands them over as that wall clock in UTC.
  if (cell instanceof Date) return { text: ymd(cell) };
  const raw = cell instanceof ExcelNumber ? cell.text.trim() : String(cell);
  const n = Number(raw);
  if (!Number.isFinite(n)) return { text: raw };
  if (column === 'amount') {
    const fen = Math.round(n * 100);
    return Math.abs(n * 100 - fen) < 1e-6 && Number.isSafeInteger(fen) ? { text: fenToYuan(fen) } : { text: raw };
  }
  if (!Number.isInteger(n)) return { text: raw };
  if (Math.abs(n) >= 1e15) {
    if (IDENTIFIERS.includes(column)) {
      return { refused: `${LABEL[column]}在 Excel 中存成了数字（${raw}），超过 15 位的数字已丢失精度：请把该列设为「文本」格式（或用银行导出的原始文件）重新导入` };
    }
    return { text: raw };
  }
  return { text: BigInt(n).toString() };
}

function refuseUnlessWorkbook(bytes: Buffer): void {
  if (bytes.length > MAX_XLSX_BYTES) {
    throw new ValidationError(`文件过大（${(bytes.length / 1048576).toFixed(1)} MB，上限 ${MAX_XLSX_BYTES / 1048576} MB）：请按日期分段导出`, `xlsx of ${bytes.length} bytes`);
  }
  if (bytes.subarray(0, 4).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0]))) {
    throw new ValidationError('文件是旧版 Excel 97-2003（.xls）格式：请在 Excel 中另存为「Excel 工作簿（*.xlsx）」后再导入', 'legacy .xls');
  }
  if (!bytes.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) throw new ValidationError(NOT_XLSX, 'no zip signature');
}

/**
 * Unpacks the workbook ourselves, counting what actually comes out of the inflater (the sizes the zip declares
 * can lie), and hands the reader the same parts packed again uncompressed, so its own unzip meets no surprise.
 */
function unpackedWithinLimit(bytes: Buffer): Buffer {
  try {
    return storedZip(unzipBounded(bytes, MAX_XLSX_UNPACKED_BYTES));
  } catch (err) {
    if (err instanceof ZipTooLargeError) {
      throw new ValidationError(`文件解压后超过 ${MAX_XLSX_UNPACKED_BYTES / 1048576} MB，不像银行流水：请检查文件，或按日期分段导出`, `xlsx ${err.message}`);
    }
    if (err instanceof ZipUnreadableError) throw new ValidationError(NOT_XLSX, `unreadable zip: ${err.message}`);
    throw err;
  }
}

async function rowsOf(bytes: Buffer, sheet: string | undefined): Promise<Cell[][]> {
  try {
    const options = { parseNumber: (text: string) => new ExcelNumber(text), trim: false };
    return (await (sheet === undefined ? readSheet(bytes, options) : readSheet(bytes, sheet, options))) as unknown as Cell[][];
  } catch (err) {
    if (err instanceof SheetNotFoundError) throw new ValidationError(`工作簿里没有名为「${sheet}」的工作表`, (err as Error).message);
    if (err instanceof InvalidInputError) throw new ValidationError(NOT_XLSX, `${err.code}: ${err.message}`);
    if (err instanceof InvalidSpreadsheetError) throw new ValidationError(`Excel 文件内容有误，无法读取：${err.message.slice(0, 80)}`, err.message);
    throw err;
  }
}

/** Reads the first worksheet (or `sheet`), judging each line like the CSV reader; line numbers are Excel's rows. */
export async function parseStatementXlsx(bytes: Buffer, opts: { sheet?: string } = {}): Promise<ParsedStatement> {
  refuseUnlessWorkbook(bytes);
  const rows = await rowsOf(unpackedWithinLimit(bytes), opts.sheet);
  const isEmpty = (row: Cell[]) => row.every((c) => c === null || (typeof c === 'string' && c.trim() === ''));
  const headerAt = rows.findIndex((r) => !isEmpty(r));
  if (headerAt < 0) throw new ValidationError('文件为空', 'empty worksheet');
  const columns = columnsOf(rows[headerAt].map((c) => {
    const result = cellText('remark', c);
    return 'text' in result ? result.text : '';
  }));
  const parsed: ParsedStatement = { lines: [], rejected: [] };
  for (let i = headerAt + 1; i < rows.length; i++) {
    if (isEmpty(rows[i])) continue;
    const line = i + 1;
    const texts: Partial<Record<Column, string>> = {};
    let refused: string | undefined;
    for (const column of Object.keys(columns) as Column[]) {
      const result = cellText(column, rows[i][columns[column]] ?? null);
      if ('refused' in result) { refused = result.refused; break; }
      texts[column] = result.text;
    }
    if (refused) parsed.rejected.push({ line, reason: refused });
    else judgeLine(line, (c) => texts[c] ?? '', parsed);
  }
  return parsed;
}
