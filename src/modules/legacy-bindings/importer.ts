import { parse } from 'csv-parse/sync';
import { ValidationError } from '../../lib/errors';
import { decodeUtf8 } from '../../lib/text-file';
import { type LegacyRow } from './repository';
import { firstMessage, HEADER_ALIASES, type LegacyKeyKind, mediaSerial, serialHex, unionid } from './schemas';

/**
 * Reads the legacy binding file (format in README, "Returning users"): UTF-8 (a BOM is fine), comma-separated,
 * a header row naming `unionid` and `serial` and/or `media_serial` (Chinese names accepted), one binding per
 * line. Every line is judged on its own, so one bad line is reported with its number and never hides the rest;
 * that is also why a quoted value may not span lines (no value here can contain a line break).
 */
export interface Rejection {
  /** 1-based physical line number, as an editor shows it. */
  line: number;
  reason: string;
  content: string;
}

export interface ParsedLegacyFile {
  rows: Array<LegacyRow & { line: number }>;
  rejected: Rejection[];
  /** Non-empty lines after the header. */
  dataLines: number;
  /** Header columns that mean nothing here (kept for the operator's own use, e.g. 单位名称). */
  ignoredColumns: string[];
}

const MAX_LINE_CONTENT = 300;

function fieldsOf(line: string): string[] {
  const records = parse(line, { relax_column_count: true, trim: true }) as string[][];
  return records[0] ?? [];
}

type Columns = { unionid: number; serial?: number; media?: number };

function columnsOf(header: string[]): { columns: Columns; ignored: string[] } {
  const found: Partial<Record<'unionid' | LegacyKeyKind, number>> = {};
  const ignored: string[] = [];
  header.forEach((raw, index) => {
    const name = raw.trim().toLowerCase();
    const kind = (Object.keys(HEADER_ALIASES) as Array<keyof typeof HEADER_ALIASES>).find((k) => HEADER_ALIASES[k].includes(name));
    if (!kind) {
      if (name) ignored.push(raw.trim());
      return;
    }
    if (found[kind] !== undefined) throw new ValidationError(`表头中「${raw.trim()}」列重复`, `duplicate header column ${kind}`);
    found[kind] = index;
  });
  if (found.unionid === undefined) throw new ValidationError('表头缺少 unionid 列（第一行应为表头，如 unionid,serial,media_serial）', `header without unionid: ${header.join(',')}`);
  if (found.serial === undefined && found.media === undefined) {
    throw new ValidationError('表头缺少证书序列号（serial）或介质编号（media_serial）列', `header without serial or media_serial: ${header.join(',')}`);
  }
  return { columns: { unionid: found.unionid, serial: found.serial, media: found.media }, ignored };
}

/** Parses and validates the whole file; throws ValidationError only for problems of the file itself (encoding, header). */
export function parseLegacyFile(bytes: Buffer, origin: string): ParsedLegacyFile {
  const lines = decodeUtf8(bytes).split(/\r\n|\n|\r/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new ValidationError('文件为空', 'no lines');
  let header: string[];
  try {
    header = fieldsOf(lines[headerIndex]);
  } catch (err) {
    throw new ValidationError('表头无法解析', `header: ${(err as Error).message}`);
  }
  const { columns, ignored } = columnsOf(header);

  const rows: ParsedLegacyFile['rows'] = [];
  const rejected: Rejection[] = [];
  const firstSeen = new Map<string, number>();
  let dataLines = 0;

  for (let i = headerIndex + 1; i < lines.length; i++) {
    const content = lines[i];
    // Blank lines, and the rows of bare commas Excel leaves below the data, are not lines of data.
    if (/^[\s,]*$/.test(content)) continue;
    dataLines += 1;
    const line = i + 1;
    const reject = (reason: string) => rejected.push({ line, reason, content: content.slice(0, MAX_LINE_CONTENT) });

    let fields: string[];
    try {
      fields = fieldsOf(content);
    } catch (err) {
      reject(`CSV 格式错误：${/quote/i.test((err as Error).message) ? '引号不成对' : '无法解析'}`);
      continue;
    }
    if (fields.slice(header.length).some((f) => f !== '')) {
      reject(`列数过多（表头 ${header.length} 列，本行 ${fields.length} 列）`);
      continue;
    }
    const value = (c: number | undefined) => (c === undefined ? '' : (fields[c] ?? '').trim());
    if (!value(columns.unionid)) {
      reject('缺少 unionid');
      continue;
    }
    const u = unionid.safeParse(value(columns.unionid));
    if (!u.success) {
      reject(firstMessage(u.error));
      continue;
    }
    const entries: Array<{ keyKind: LegacyKeyKind; keyValue: string }> = [];
    const problems: string[] = [];
    if (value(columns.serial)) {
      const s = serialHex.safeParse(value(columns.serial));
      if (s.success) entries.push({ keyKind: 'serial', keyValue: s.data });
      else problems.push(firstMessage(s.error));
    }
    if (value(columns.media)) {
      const m = mediaSerial.safeParse(value(columns.media));
      if (m.success) entries.push({ keyKind: 'media', keyValue: m.data });
      else problems.push(firstMessage(m.error));
    }
    if (problems.length) {
      reject(problems.join('；'));
      continue;
    }
    if (!entries.length) {
      reject('证书序列号和介质编号都为空（至少填一个）');
      continue;
    }

    const fresh = entries.filter((e) => !firstSeen.has(`${u.data}\n${e.keyKind}\n${e.keyValue}`));
    if (!fresh.length) {
      reject(`与第 ${firstSeen.get(`${u.data}\n${entries[0].keyKind}\n${entries[0].keyValue}`)} 行重复`);
      continue;
    }
    for (const e of fresh) {
      firstSeen.set(`${u.data}\n${e.keyKind}\n${e.keyValue}`, line);
      rows.push({ line, unionid: u.data, keyKind: e.keyKind, keyValue: e.keyValue, origin: `${origin}:${line}`.slice(-200) });
    }
  }
  return { rows, rejected, dataLines, ignoredColumns: ignored };
}

/**
 * The rejected lines as a CSV the operator opens in Excel: UTF-8 with a BOM (so Excel reads the Chinese), and
 * values that Excel would run as formulas are prefixed with an apostrophe.
 */
export function rejectionReportCsv(rejected: Rejection[]): string {
  const cell = (v: string | number) => {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [['line', 'reason', 'content'], ...rejected.map((r) => [r.line, r.reason, r.content])].map((row) => row.map(cell).join(','));
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
