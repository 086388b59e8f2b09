import { createHash } from 'node:crypto';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, NotFoundError, UpstreamError, ValidationError } from '../../lib/errors';
import { CaError, REVOCATION_REASONS, type RevocationReason } from '../../providers/ca/types';
import { type Certificate, CertificateEntity } from './entities';
import { CertificateRepository } from './repository';
import { RevocationEvidenceEntity } from './revocation-entities';

/**
 * Revoking a certificate at an operator's request (issue 12): a four-eyes proposal (kind 'cert-revoke') with an
 * RFC 5280 reason code and the evidence of the request (what the organisation asked, and how: text, and optionally
 * the letter as a file). Approval revokes at the CA (deps.ca: the RA, or the built-in CA, which re-signs its CRL
 * on every revocation), checks the CA now says revoked, and marks our record — with the SM2 encryption twin of a
 * signing certificate, which shares its fate. Every step is idempotent (the CA keeps the first date and reason).
 */
export interface CertRevokePayload {
  certificateId: number;
  serialHex: string;
  reason: RevocationReason;
  evidenceText: string;
  evidenceId: number | null;
}

/** The reasons an operator may choose, in RFC 5280's words and ours. `superseded` is the renewal job's. */
export const OPERATOR_REASONS: Array<{ code: RevocationReason; label: string }> = [
  { code: 'keyCompromise', label: '密钥泄露或 U-KEY 遗失（keyCompromise）' },
  { code: 'affiliationChanged', label: '单位名称等信息变更（affiliationChanged）' },
  { code: 'superseded', label: '已由新证书替代（superseded）' },
  { code: 'cessationOfOperation', label: '单位注销或停止使用（cessationOfOperation）' },
  { code: 'privilegeWithdrawn', label: '授权撤销（privilegeWithdrawn）' },
  { code: 'unspecified', label: '未说明原因（unspecified）' },
];
export const reasonLabel = (code: string) => OPERATOR_REASONS.find((r) => r.code === code)?.label ?? code;

export const describeRevocation = (p: CertRevokePayload) =>
  `吊销证书 #${p.certificateId}（序列号 ${p.serialHex}），原因：${reasonLabel(p.reason)}；申请依据：${p.evidenceText}${p.evidenceId ? `（附证明材料，在 /certificates/${p.certificateId} 查看）` : ''}`;

export const EVIDENCE_MAX_BYTES = 5 * 1024 * 1024;
export const EVIDENCE_TYPES: Record<string, string> = { 'application/pdf': 'pdf', 'image/jpeg': 'jpg', 'image/png': 'png' };
const evidencePurpose = (sha256: string) => `revocation-evidence:${sha256}`;

export class CertificateRevocations {
  private readonly repo = new CertificateRepository();

  constructor(private readonly deps: Pick<Deps, 'db' | 'ca' | 'clock' | 'pii' | 'logger'>) {}

  /** Keeps the uploaded letter sealed; the proposal names it by id. */
  async saveEvidence(certificateId: number, file: { filename: string; contentType: string; bytes: Buffer }, operatorId: number): Promise<number> {
    if (!EVIDENCE_TYPES[file.contentType]) throw new ValidationError('证明材料只接受 PDF、JPG 或 PNG 文件', `evidence type ${file.contentType}`);
    if (file.bytes.length === 0 || file.bytes.length > EVIDENCE_MAX_BYTES) throw new ValidationError('证明材料不能为空，且不超过 5 MB', `evidence ${file.bytes.length} bytes`);
    if (!sniffMatches(file.contentType, file.bytes)) throw new ValidationError('文件内容与类型不符，请上传 PDF、JPG 或 PNG', `evidence bytes do not look like ${file.contentType}`);
    const sha256 = createHash('sha256').update(file.bytes).digest('hex');
    const filename = file.filename.replace(/[^\p{L}\p{N}._ -]/gu, '_').slice(-120) || `evidence.${EVIDENCE_TYPES[file.contentType]}`;
    const result = await this.deps.db.manager.insert(RevocationEvidenceEntity, {
      certificateId, filename, contentType: file.contentType, sizeBytes: file.bytes.length, sha256,
      sealed: this.deps.pii.encryptBytes(file.bytes, evidencePurpose(sha256)), uploadedBy: operatorId, createdAt: new Date(this.deps.clock.nowMs()),
    });
    return Number(result.identifiers[0]!.id);
  }

  /** The files attached to revocation proposals of this certificate (names only). */
  evidenceOf(certificateId: number): Promise<Array<{ id: number; filename: string; sizeBytes: number; createdAt: Date }>> {
    return this.deps.db.manager.find(RevocationEvidenceEntity, { where: { certificateId }, select: { id: true, filename: true, sizeBytes: true, createdAt: true }, order: { id: 'DESC' } });
  }

  /** Opens the evidence for an operator (the vault audits the read; the route audits the view). */
  async evidence(id: number, actor: string): Promise<{ filename: string; contentType: string; bytes: Buffer; certificateId: number }> {
    const row = await this.deps.db.manager.findOne(RevocationEvidenceEntity, { where: { id } });
    if (!row) throw new NotFoundError('没有这份证明材料', `revocation evidence ${id}`);
    const bytes = this.deps.pii.decryptBytes(Buffer.from(row.sealed), evidencePurpose(row.sha256), { actor, reason: 'revocation-evidence', subject: `revocation_evidence:${id}` });
    return { filename: row.filename, contentType: row.contentType, bytes, certificateId: row.certificateId };
  }

  async validate(p: CertRevokePayload): Promise<Certificate> {
    if (!(REVOCATION_REASONS as readonly string[]).includes(p.reason)) throw new ValidationError('请选择吊销原因', `reason ${p.reason}`);
    const text = p.evidenceText.trim();
    if (text.length < 10 || text.length > 1000) throw new ValidationError('请写明申请依据（谁、何时、以何种方式申请吊销，10-1000 字）', 'evidence text length');
    const cert = await this.repo.findById(this.deps.db.manager, p.certificateId);
    if (!cert || cert.serialHex !== p.serialHex) throw new NotFoundError('没有这张证书', `certificate ${p.certificateId} / ${p.serialHex}`);
    if (cert.status === 'revoked') throw new ConflictError('该证书已吊销', `certificate ${cert.id} revoked at ${cert.revokedAt?.toISOString()}`);
    if (p.evidenceId !== null) {
      const ev = await this.deps.db.manager.findOne(RevocationEvidenceEntity, { where: { id: p.evidenceId }, select: { id: true, certificateId: true } });
      if (!ev || ev.certificateId !== cert.id) throw new ValidationError('证明材料与证书不符', `evidence ${p.evidenceId} is not for certificate ${cert.id}`);
    }
    return cert;
  }

  /** At approval: revoke at the CA (idempotent there), confirm, mark ours. Safe to run again after a crash. */
  async execute(p: CertRevokePayload): Promise<Record<string, unknown>> {
    const em = this.deps.db.manager;
    const cert = await this.repo.findById(em, p.certificateId);
    if (!cert || cert.serialHex !== p.serialHex) throw new NotFoundError('没有这张证书', `certificate ${p.certificateId} / ${p.serialHex}`);
    const twins = await em.find(CertificateEntity, { where: { pairCertificateId: cert.id } });
    const revoked: string[] = [];
    for (const c of [cert, ...twins]) {
      try {
        await this.deps.ca.revoke(c.serialHex, p.reason);
      } catch (err) {
        if (err instanceof CaError) throw new UpstreamError(`CA 未能吊销证书：${err.message}`, `ca.revoke ${c.serialHex}: ${err.code} ${err.message}`, err.code, { cause: err });
        throw err;
      }
      const status = await this.deps.ca.status(c.serialHex);
      if (status.status !== 'revoked') throw new UpstreamError('CA 未确认吊销，请稍后重试', `ca.status ${c.serialHex} is ${status.status} after revoke`, 'not-revoked');
      const at = status.revokedAt ?? new Date(this.deps.clock.nowMs());
      await inTransaction(this.deps.db, (tx) => tx.update(CertificateEntity, { id: c.id, status: 'valid' }, { status: 'revoked', revokedAt: at, updatedAt: new Date(this.deps.clock.nowMs()) })
        .then(() => tx.update(CertificateEntity, { id: c.id, status: 'superseded' }, { status: 'revoked', revokedAt: at, updatedAt: new Date(this.deps.clock.nowMs()) })));
      revoked.push(c.serialHex);
    }
    this.deps.logger.info({ certificateId: cert.id, serials: revoked, reason: p.reason }, 'certificate revoked by operators');
    return { revoked, reason: p.reason, ca: this.deps.ca.mode, crl: this.deps.ca.mode === 'sandbox' ? '内置 CA 已重签 CRL' : 'CA 发布 CRL' };
  }
}

/** The first bytes must say what the declared type says: a renamed executable is not a letter. */
function sniffMatches(type: string, b: Buffer): boolean {
  if (type === 'application/pdf') return b.subarray(0, 5).toString('latin1') === '%PDF-';
  if (type === 'image/png') return b.length > 8 && b.readUInt32BE(0) === 0x89504e47;
  if (type === 'image/jpeg') return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
  return false;
}
