import { EntitySchema } from 'typeorm';

/** One line of an import's report, as the operator saw it right after the upload. */
export interface ReportLine {
  line: number;
  result: 'credited' | 'exception' | 'skipped' | 'rejected';
  text: string;
}

/** A statement uploaded in the console: who, what file, the totals and the per-line report (JSON), for the history page. */
export interface StatementImport {
  id: number;
  fileName: string;
  fileBytes: number;
  operatorId: number;
  operatorName: string;
  credited: number;
  exceptions: number;
  skipped: number;
  rejected: number;
  /** JSON array of ReportLine. */
  report: string;
  createdAt: Date;
}

export const StatementImportEntity = new EntitySchema<StatementImport>({
  name: 'StatementImport',
  tableName: 'statement_imports',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    fileName: { name: 'file_name', type: String, length: 200 },
    fileBytes: { name: 'file_bytes', type: Number },
    operatorId: { name: 'operator_id', type: Number },
    operatorName: { name: 'operator_name', type: String, length: 64 },
    credited: { type: Number, default: 0 },
    exceptions: { type: Number, default: 0 },
    skipped: { type: Number, default: 0 },
    rejected: { type: Number, default: 0 },
    report: { type: 'text' },
    createdAt: { name: 'created_at', type: Date },
  },
  indices: [{ name: 'idx_statement_imports_created', columns: ['createdAt'] }],
});
