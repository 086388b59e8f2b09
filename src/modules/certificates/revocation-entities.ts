import { EntitySchema } from 'typeorm';

/** The file an operator attached to a revocation proposal (migration 1766400000000), sealed with the PII vault. */
export interface RevocationEvidence {
  id: number;
  certificateId: number;
  filename: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  sealed: Buffer;
  /** The operator's id (console_operators). */
  uploadedBy: number;
  createdAt: Date;
}

export const RevocationEvidenceEntity = new EntitySchema<RevocationEvidence>({
  name: 'RevocationEvidence',
  tableName: 'revocation_evidence',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    certificateId: { name: 'certificate_id', type: Number },
    filename: { type: String, length: 120 },
    contentType: { name: 'content_type', type: String, length: 64 },
    sizeBytes: { name: 'size_bytes', type: Number },
    sha256: { type: String, length: 64 },
    sealed: { type: 'blob' },
    uploadedBy: { name: 'uploaded_by', type: Number },
    createdAt: { name: 'created_at', type: Date },
  },
});
