import { EntitySchema } from 'typeorm';

/**
 * A console operator. The password is an argon2id hash; the TOTP secret is sealed by the PII vault (purpose
 * 'operator-totp'), so a database dump alone yields no second factor. `totpLastStep` is the last accepted time step:
 * a code is accepted only for a later step, set by a conditional UPDATE, so a code seen once (shoulder, proxy log)
 * cannot log in again. The U-KEY is the enrolled certificate (PEM) and its SHA-256 fingerprint.
 */
export interface Operator {
  id: number;
  username: string;
  displayName: string;
  passwordHash: string;
  totpSecret: string | null;
  totpLastStep: number | null;
  ukeyFingerprint: string | null;
  ukeyCertificatePem: string | null;
  /** Comma list of OperatorRole. */
  roles: string;
  disabled: boolean;
  lastLoginAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const OperatorEntity = new EntitySchema<Operator>({
  name: 'Operator',
  tableName: 'operators',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    username: { type: String, length: 64 },
    displayName: { name: 'display_name', type: String, length: 64 },
    passwordHash: { name: 'password_hash', type: String, length: 255 },
    totpSecret: { name: 'totp_secret', type: String, length: 255, nullable: true },
    totpLastStep: { name: 'totp_last_step', type: Number, nullable: true },
    ukeyFingerprint: { name: 'ukey_fingerprint', type: String, length: 64, nullable: true },
    ukeyCertificatePem: { name: 'ukey_certificate_pem', type: 'text', nullable: true },
    roles: { type: String, length: 64 },
    disabled: { type: Boolean, default: false },
    lastLoginAt: { name: 'last_login_at', type: Date, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_operators_username', columns: ['username'] }],
});

/** PROPOSED → APPROVED → EXECUTED | FAILED (an approver may retry); or REJECTED. */
export const PROPOSAL_STATES = ['PROPOSED', 'APPROVED', 'EXECUTED', 'FAILED', 'REJECTED'] as const;
export type ProposalStatus = (typeof PROPOSAL_STATES)[number];

/** A four-eyes action: one operator proposes, another approves, then it executes (idempotently). */
export interface Proposal {
  id: number;
  kind: string;
  /** JSON of the kind's payload. */
  payload: string;
  reason: string;
  status: ProposalStatus;
  proposerId: number;
  approverId: number | null;
  decidedAt: Date | null;
  /** Why it was rejected. */
  decisionReason: string | null;
  /** JSON the kind's execute returned. */
  result: string | null;
  error: string | null;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
}

export const ProposalEntity = new EntitySchema<Proposal>({
  name: 'ConsoleProposal',
  tableName: 'console_proposals',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    kind: { type: String, length: 32 },
    payload: { type: 'text' },
    reason: { type: String, length: 500 },
    status: { type: String, length: 16 },
    proposerId: { name: 'proposer_id', type: Number },
    approverId: { name: 'approver_id', type: Number, nullable: true },
    decidedAt: { name: 'decided_at', type: Date, nullable: true },
    decisionReason: { name: 'decision_reason', type: String, length: 500, nullable: true },
    result: { type: 'text', nullable: true },
    error: { type: String, length: 500, nullable: true },
    attempts: { type: Number, default: 0 },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  indices: [{ name: 'idx_console_proposals_status', columns: ['status', 'createdAt'] }, { name: 'idx_console_proposals_kind', columns: ['kind', 'createdAt'] }],
});

export const consoleEntities = [OperatorEntity, ProposalEntity];
