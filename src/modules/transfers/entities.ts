import { EntitySchema } from 'typeorm';

/**
 * The 6-digit code of an order paid by corporate transfer. `openCode` holds the code while the order can still
 * be paid and is cleared once it cannot (the unique index keeps codes unique among open orders on MySQL and
 * SQLite alike: many NULLs are allowed). `code` stays for the record.
 */
export interface TransferCode {
  id: number;
  orderId: number;
  orderNo: string;
  code: string;
  openCode: string | null;
  /** The organisation the transfer must come from (payer name check). */
  organizationName: string;
  createdAt: Date;
}

export const TransferCodeEntity = new EntitySchema<TransferCode>({
  name: 'TransferCode',
  tableName: 'transfer_codes',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderId: { name: 'order_id', type: Number },
    orderNo: { name: 'order_no', type: String, length: 32 },
    code: { type: String, length: 6 },
    openCode: { name: 'open_code', type: String, length: 6, nullable: true },
    organizationName: { name: 'organization_name', type: String, length: 200 },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [
    { name: 'uq_transfer_codes_order', columns: ['orderId'] },
    { name: 'uq_transfer_codes_open', columns: ['openCode'] },
  ],
  indices: [{ name: 'ix_transfer_codes_order_no', columns: ['orderNo'] }],
});

/** processing: claimed by an import that has not settled it yet (see TransferService.claimLine). */
export type StatementDecision = 'processing' | 'credited' | 'exception';

/** A statement line once imported: the bank serial makes a second import of the same file change nothing. */
export interface StatementEntry {
  id: number;
  bankSerial: string;
  lineDate: string;
  payerName: string;
  payerAccount: string;
  payerBank: string;
  amountFen: number | null;
  remark: string;
  decision: StatementDecision;
  reason: string | null;
  orderNo: string | null;
  source: string;
  importedAt: Date;
  /** The random token of the import run that claimed the line (statement-import.ts); null on lines of older imports. */
  claimToken?: string | null;
}

export const StatementEntryEntity = new EntitySchema<StatementEntry>({
  name: 'StatementEntry',
  tableName: 'bank_statement_lines',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    bankSerial: { name: 'bank_serial', type: String, length: 64 },
    lineDate: { name: 'line_date', type: String, length: 32 },
    payerName: { name: 'payer_name', type: String, length: 200 },
    payerAccount: { name: 'payer_account', type: String, length: 64 },
    payerBank: { name: 'payer_bank', type: String, length: 200 },
    amountFen: { name: 'amount_fen', type: Number, nullable: true },
    remark: { type: String, length: 200 },
    decision: { type: String, length: 16 },
    reason: { type: String, length: 200, nullable: true },
    orderNo: { name: 'order_no', type: String, length: 32, nullable: true },
    source: { type: String, length: 200 },
    importedAt: { name: 'imported_at', type: Date },
    claimToken: { name: 'claim_token', type: String, length: 32, nullable: true },
  },
  uniques: [{ name: 'uq_statement_bank_serial', columns: ['bankSerial'] }],
  indices: [{ name: 'ix_statement_lines_order', columns: ['orderNo'] }],
});
