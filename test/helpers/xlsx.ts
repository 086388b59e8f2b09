import writeXlsxFile, { type Row } from 'write-excel-file/node';

/** An .xlsx workbook in memory (tests and the sample generator; the app only reads workbooks). */
export async function xlsxBytes(rows: Row[], sheet = 'Sheet1', more: { sheet: string; rows: Row[] }[] = []): Promise<Buffer> {
  if (!more.length) return writeXlsxFile(rows, { sheet }).toBuffer();
  return writeXlsxFile([{ sheet, data: rows }, ...more.map((m) => ({ sheet: m.sheet, data: m.rows }))]).toBuffer();
}
