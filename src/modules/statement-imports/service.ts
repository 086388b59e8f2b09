import { basename } from 'node:path';
import { type Deps } from '../../deps';
import { NotFoundError, PayloadTooLargeError } from '../../lib/errors';
import { TransferService } from '../transfers/service';
import { type ParsedStatement } from '../transfers/statement-file';
import { readStatement, statementReport } from '../transfers/statement-read';
import { MAX_XLSX_BYTES } from '../transfers/statement-xlsx';
import { type ReportLine, type StatementImport, StatementImportEntity } from './entities';

/** What an uploaded statement may weigh: the workbook limit of the command (a CSV of 100,000 lines is about 12 MB). */
export const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;

export interface ImportResult {
  id: number;
  totals: { credited: number; exceptions: number; skipped: number; rejected: number };
  report: ReportLine[];
}

/**
 * Statement imports from the console: the file is read and imported exactly as `npm run statements:import` does
 * (readStatement, then TransferService.importLines: the matcher, the claims and the settlement are theirs), and the
 * upload is kept with its report for the history page (the command's imports too, under the shell user).
 */
export class StatementImportService {
  constructor(private readonly deps: Deps) {}

  async importUpload(file: { name: string; bytes: Buffer }, operator: { id: number; username: string }): Promise<ImportResult> {
    const name = basename(file.name || 'statement.csv').slice(-200);
    // The command's workbook limit holds here too (a workbook unpacks to many times its size).
    if (/\.xlsx$/i.test(name) && file.bytes.length > MAX_XLSX_BYTES) {
      throw new PayloadTooLargeError(`Excel 工作簿超过 ${MAX_XLSX_BYTES / 1048576} MB，请按较短的日期范围导出，或另存为 CSV 后导入`, `xlsx upload of ${file.bytes.length} bytes`);
    }
    return this.importParsed({ name, bytes: file.bytes.length }, await readStatement(name, file.bytes, {}), operator);
  }

  /**
   * Imports a statement already read (the command reads its file itself) and records it in the history with its
   * report; `operator` is the console's, or { id: 0, username: 'shell:<user>' } for `npm run statements:import`.
   */
  async importParsed(file: { name: string; bytes: number }, parsed: ParsedStatement, operator: { id: number; username: string }): Promise<ImportResult> {
    const name = file.name.slice(-200);
    const at = new Date(this.deps.clock.nowMs());
    const outcomes = await new TransferService(this.deps).importLines(parsed.lines, name, at);
    const report: ReportLine[] = statementReport(parsed, outcomes);
    const count = (k: string) => outcomes.filter((o) => o.result === k).length;
    const totals = { credited: count('credited'), exceptions: count('exception'), skipped: count('skipped'), rejected: parsed.rejected.length };
    const saved = await this.deps.db.getRepository(StatementImportEntity).insert({
      fileName: name, fileBytes: file.bytes, operatorId: operator.id, operatorName: operator.username.slice(0, 64), ...totals,
      report: JSON.stringify(report.map((r) => [r.line, r.result, r.text])), createdAt: at,
    });
    return { id: Number(saved.identifiers[0].id), totals, report };
  }

  /** The history, newest first (the report itself is read only on the detail page). */
  async history(page: number, pageSize: number): Promise<{ items: Omit<StatementImport, 'report'>[]; total: number }> {
    const [items, total] = await this.deps.db.getRepository(StatementImportEntity).findAndCount({
      select: ['id', 'fileName', 'fileBytes', 'operatorId', 'operatorName', 'credited', 'exceptions', 'skipped', 'rejected', 'createdAt'],
      order: { id: 'DESC' }, skip: (page - 1) * pageSize, take: pageSize,
    });
    return { items, total };
  }

  async detail(id: number): Promise<{ entry: StatementImport; report: ReportLine[] }> {
    const entry = await this.deps.db.getRepository(StatementImportEntity).findOne({ where: { id } });
    if (!entry) throw new NotFoundError('没有这次导入', `statement import ${id} not found`);
    const rows = JSON.parse(entry.report) as [number, ReportLine['result'], string][];
    return { entry, report: rows.map(([line, result, text]) => ({ line, result, text })) };
  }
}
