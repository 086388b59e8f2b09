import { EntitySchema } from 'typeorm';

/**
 * credited: an operator matched the line to an order and a second one approved it (four-eyes 'manual-credit');
 * refund-pending: the money is to go back to the payer's account (instructions recorded); refunded: it went, with the
 * bank's reference of the return transfer.
 */
export type ResolutionState = 'credited' | 'refund-pending' | 'refunded';

/** What a person decided for a transfer line the matcher left as an exception; one per line (the unique key guards it). */
export interface StatementResolution {
  id: number;
  statementLineId: number;
  bankSerial: string;
  state: ResolutionState;
  orderNo: string | null;
  reason: string;
  /** Where the money goes back to (the payer's own account, from the line unless the operator corrected it). */
  refundAccountName: string | null;
  refundAccount: string | null;
  refundBank: string | null;
  refundNote: string | null;
  proposalId: number | null;
  decidedBy: string;
  createdAt: Date;
  refundReference: string | null;
  refundedBy: string | null;
  refundedAt: Date | null;
}

export const StatementResolutionEntity = new EntitySchema<StatementResolution>({
  name: 'StatementResolution',
  tableName: 'statement_line_resolutions',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    statementLineId: { name: 'statement_line_id', type: Number },
    bankSerial: { name: 'bank_serial', type: String, length: 64 },
    state: { type: String, length: 16 },
    orderNo: { name: 'order_no', type: String, length: 32, nullable: true },
    reason: { type: String, length: 200 },
    refundAccountName: { name: 'refund_account_name', type: String, length: 200, nullable: true },
    refundAccount: { name: 'refund_account', type: String, length: 64, nullable: true },
    refundBank: { name: 'refund_bank', type: String, length: 200, nullable: true },
    refundNote: { name: 'refund_note', type: String, length: 200, nullable: true },
    proposalId: { name: 'proposal_id', type: Number, nullable: true },
    decidedBy: { name: 'decided_by', type: String, length: 64 },
    createdAt: { name: 'created_at', type: Date },
    refundReference: { name: 'refund_reference', type: String, length: 64, nullable: true },
    refundedBy: { name: 'refunded_by', type: String, length: 64, nullable: true },
    refundedAt: { name: 'refunded_at', type: Date, nullable: true },
  },
  uniques: [{ name: 'uq_statement_line_resolutions_line', columns: ['statementLineId'] }],
});
