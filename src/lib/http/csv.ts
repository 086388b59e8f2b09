import type Koa from 'koa';

/** A cell a spreadsheet would read as a formula (or a DDE payload) starts with one of these. */
const FORMULA_START = /^[=+\-@\t\r]/;

function cell(value: unknown): string {
  let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value);
  // OWASP "CSV injection": a leading ' makes Excel/WPS show the text instead of evaluating it.
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * CSV for Excel and WPS: UTF-8 with a BOM (without it Excel reads Chinese as GBK mojibake), CRLF line ends,
 * quotes doubled, and cells starting with =, +, -, @, tab or CR prefixed with ' so they are never run as formulas.
 */
export function toCsv(header: string[], rows: unknown[][]): string {
  return `\uFEFF${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`;
}

/** Sends a CSV download; `filename` may be Chinese (RFC 5987 filename*, with an ASCII fallback). */
export function sendCsv(ctx: Koa.Context, filename: string, header: string[], rows: unknown[][]): void {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  ctx.set('Content-Disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`);
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'text/csv; charset=utf-8';
  ctx.body = toCsv(header, rows);
}
