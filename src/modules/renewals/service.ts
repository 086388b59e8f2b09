import { createHash } from 'node:crypto';
import { In, IsNull, LessThan, type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { AppError } from '../../lib/errors';
import { parseCertificate } from '../../lib/pki/certificate';
import { parseCsr } from '../../lib/pki/csr';
import { csrDerOf, renewalPopMessage, verifyRenewalPop } from '../../lib/pki/renewal-pop';
import { type CertificateSubject, type ParsedCertificate } from '../../lib/pki/types';
import { CaError, type IssuedCertificate } from '../../providers/ca/types';
import { type Certificate } from '../certificates/entities';
import { CertificateRepository } from '../certificates/repository';
import { CertificateRefusedError, certificateServiceFor, type CertificateService } from '../certificates/service';
import { formatDate } from '../certificates/view-model';
import { RenewalAuditLog } from './audit';
import { type Renewal, RenewalEntity, type RenewalIssuance, RenewalIssuanceEntity } from './entities';
import { type Entitlement, entitlementOf, orderOf } from './entitlement';
import { type PcSession } from './pc-session';
import { RenewalError } from './schemas';
import { capNote, renewedValidity, type RenewedValidity } from './validity';
import { BRAND } from '../../config/brand';

/** A challenge lives 2 minutes and is the lease: another tab cannot start while it is live. */
export const CHALLENGE_TTL_MS = 120_000;
/** How long issuing a CSR may hold the renewal (a CA call), after which another attempt may take over. */
const ISSUING_LEASE_MS = 60_000;
const sha256Hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** The answer of a CSR (and of /certificate): what the page hands the key agent's cert.install. */
export interface IssuedAnswer {
  state: 'ISSUED' | 'INSTALLED';
  serialHex: string;
  certificatePem: string;
  chainPem: string[];
  notBefore: string;
  notAfter: string;
  encryptionPair?: { certificatePem: string; envelopedKeyBase64: string };
}

/** Validity stacking for a certificate we know (the issuing CA from its chain); also the 续期缴费 page's preview. */
export async function stackedValidity(certificates: CertificateService, parsed: ParsedCertificate, row: Pick<Certificate, 'project' | 'notAfter'>, years: number, at: Date): Promise<RenewedValidity & { capNote?: string }> {
  const issuer = await certificates.issuerOf(parsed, at);
  const v = renewedValidity({ now: at, oldNotAfter: row.notAfter, years, projectMaxYears: certificates.rules.maxValidityYearsOf(row.project), issuerNotAfter: issuer?.notAfter });
  return { ...v, capNote: capNote(v, formatDate) };
}

export function issuedAnswer(i: RenewalIssuance): IssuedAnswer {
  return {
    state: i.state === 'INSTALLED' ? 'INSTALLED' : 'ISSUED', serialHex: i.serialHex, certificatePem: i.certificatePem, chainPem: JSON.parse(i.chainPem) as string[],
    notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(),
    encryptionPair: i.encCertificatePem && i.envelopedKeyBase64 ? { certificatePem: i.encCertificatePem, envelopedKeyBase64: i.envelopedKeyBase64 } : undefined,
  };
}

/**
 * The renewal use cases up to issuance (installation is install.ts): what the server knows about a presented
 * certificate, the challenge (and lease), the proof-of-possession message, and a CSR turned into a certificate.
 * The order of checks in submitCsr matters: the challenge is consumed first (a failed try uses it up), the
 * signatures are checked before anything is issued, and the CA is asked with a requestId derived from the CSR
 * hash, so a retry after a crash gets the same certificate from the CA and from us.
 */
export class RenewalService {
  readonly audit: RenewalAuditLog;
  readonly certificates: CertificateService;
  private readonly certRepo = new CertificateRepository();

  constructor(private readonly deps: Deps) {
    this.audit = new RenewalAuditLog(deps);
    this.certificates = certificateServiceFor(deps);
  }

  /** Our record of a presented certificate; CERT_UNKNOWN when we have none. */
  async known(pem: string): Promise<{ parsed: ParsedCertificate; row: Certificate }> {
    const parsed = this.certificates.parse(pem);
    const row = await this.certRepo.findByFingerprint(this.deps.db.manager, parsed.fingerprintSha256);
    if (!row) throw new RenewalError('CERT_UNKNOWN', `该证书尚未绑定，请先在“获取证书绑定码”页面绑定到微信，或拨打客服热线 ${BRAND.hotline}`, `no record of certificate ${parsed.fingerprintSha256}`);
    return { parsed, row };
  }

  /** The new validity this certificate gets for `years` paid now, and the note when a cap bites. */
  validityFor(parsed: ParsedCertificate, row: Pick<Certificate, 'project' | 'notAfter'>, years: number, at: Date): Promise<RenewedValidity & { capNote?: string }> {
    return stackedValidity(this.certificates, parsed, row, years, at);
  }

  entitlement(row: Certificate, at: Date): Promise<Entitlement> {
    return entitlementOf(this.deps.db.manager, this.certificates.rules, row, at);
  }

  /** Refuses with the code the page understands when the certificate is not entitled now. */
  private refuse(e: Exclude<Entitlement, { kind: 'entitled' }>, certificateId: number): never {
    switch (e.kind) {
      case 'renewed': throw new RenewalError('ALREADY_RENEWED', '该证书已完成续期，请使用新证书', `certificate ${certificateId} renewed by renewal ${e.renewal.id}`);
      case 'transfer-waiting': throw new RenewalError('TRANSFER_WAITING', `对公汇款待核实，款项核实后即可续期（订单 ${e.order.orderNo}）`, `order ${e.order.orderNo} waits for a transfer`);
      case 'revoked': throw new RenewalError('CERT_REVOKED', `该证书已吊销，无法续期。如有疑问请拨打客服热线 ${BRAND.hotline}`, `certificate ${certificateId} is revoked`);
      case 'outside-window': throw new RenewalError('OUTSIDE_WINDOW', e.state === 'not-yet' ? `该证书 ${formatDate(e.opensAt)} 起可以续期` : '已超过续期期限，请联系 CA 重新办理', `renewal window of ${certificateId}: ${e.state}`);
      default: throw new RenewalError('NOT_ENTITLED', '该证书尚未缴纳续期费用，请先用微信扫码缴费', `certificate ${certificateId} has no paid order line`);
    }
  }

  /** Chain and status of the old certificate; refusals become the API's codes. */
  private async checkOld(parsed: ParsedCertificate, at: Date): Promise<void> {
    try {
      await this.certificates.checkChainAndStatus(parsed, at);
    } catch (err) {
      if (err instanceof CertificateRefusedError) throw new RenewalError(err.reason === 'revoked' ? 'CERT_REVOKED' : 'CERT_UNTRUSTED', err.userMessage, err.detail ?? err.message, { cause: err });
      throw err;
    }
  }

  /** Starts or resumes: the renewal row for the paid line, a fresh challenge bound to this PC session (the lease). */
  async start(session: PcSession, input: { certificatePem: string; mediaSerial: string; resumeChallenge?: string }, at: Date) {
    const { parsed, row } = await this.known(input.certificatePem);
    const e = await this.entitlement(row, at);
    if (e.kind !== 'entitled') this.refuse(e, row.id);
    // The chain and the CA's status are checked when the CSR comes (before anything is issued); here our own record
    // (revoked, superseded) has spoken through the entitlement, so a challenge costs no CA round trip.
    const renewal = e.renewal ?? await this.ensureRenewal(e, row, at);
    const challengeBase64 = this.deps.random.bytes(32).toString('base64');
    const expiresAt = new Date(at.getTime() + CHALLENGE_TTL_MS);
    const acquired = await this.deps.db.createQueryBuilder().update(RenewalEntity)
      .set({ leaseToken: `ch:${challengeBase64}`, leaseUntil: expiresAt, challengeSession: session.binding, state: renewal.state === 'ENTITLED' ? 'CHALLENGED' : renewal.state, updatedAt: at })
      // Free, expired, or the challenge this very tab holds (it shows it: a retry after the key was pulled starts over
      // at once); another tab, even of the same browser, is told it is running; never while a CSR is being issued.
      .where('id = :id AND state <> :installed AND (lease_until IS NULL OR lease_until < :at OR (lease_token = :held AND challenge_session = :session))', {
        id: renewal.id, installed: 'INSTALLED', at, session: session.binding, held: input.resumeChallenge ? `ch:${input.resumeChallenge}` : '-',
      })
      .execute();
    if (!acquired.affected) throw new RenewalError('RENEWAL_RUNNING', '该证书正在另一个页面中续期，请在原页面完成，或约 2 分钟后刷新本页重试', `renewal ${renewal.id} is leased until ${renewal.leaseUntil?.toISOString() ?? '?'}`);
    await this.audit.record({ renewalId: renewal.id, step: 'challenge', detail: { mediaSerial: input.mediaSerial, oldSerial: parsed.serialHex, expiresAt: expiresAt.toISOString() } });
    return {
      renewalId: renewal.id, state: renewal.state === 'ENTITLED' ? 'CHALLENGED' : renewal.state, challengeBase64, expiresAt: expiresAt.toISOString(),
      keyAlgorithm: row.algorithm, subject: this.subjectOf(parsed), dual: renewal.dual,
    };
  }

  private async ensureRenewal(e: Extract<Entitlement, { kind: 'entitled' }>, row: Certificate, at: Date): Promise<Renewal> {
    const fresh: Omit<Renewal, 'id'> = {
      orderLineId: e.line.id, orderId: e.order.id, orderNo: e.order.orderNo, certificateId: row.id, openid: e.order.openid, years: e.line.years,
      algorithm: row.algorithm, dual: row.algorithm === 'SM2', state: 'ENTITLED', leaseToken: null, leaseUntil: null, challengeSession: null,
      currentIssuanceId: null, newCertificateId: null, installedAt: null, oldRevokedAt: null, sandbox: row.sandbox, createdAt: at, updatedAt: at,
    };
    try {
      const result = await this.deps.db.getRepository(RenewalEntity).insert(fresh);
      const renewal = { ...fresh, id: Number(result.identifiers[0].id) };
      await this.audit.record({ renewalId: renewal.id, step: 'entitled', detail: { orderNo: e.order.orderNo, orderLineId: e.line.id, certificateId: row.id, years: e.line.years } });
      return renewal;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return this.deps.db.getRepository(RenewalEntity).findOneByOrFail({ orderLineId: e.line.id });
    }
  }

  /** The subject the agent puts in its CSR: from our record of the old certificate (the CA sets the OU from the profile). */
  subjectOf(parsed: ParsedCertificate): CertificateSubject {
    const { organizationalUnit: _ou, ...subject } = parsed.subject;
    return subject;
  }

  async renewal(id: number): Promise<Renewal> {
    const renewal = Number.isSafeInteger(id) ? await this.deps.db.getRepository(RenewalEntity).findOneBy({ id }) : null;
    if (!renewal) throw new RenewalError('RENEWAL_NOT_FOUND', '未找到该续期记录，请刷新页面后重试', `renewal ${id} not found`);
    return renewal;
  }

  /** The exact bytes the old key signs (docs/renewal.md), so SM3 stays out of the browser. Stores nothing. */
  async popMessage(id: number, session: PcSession, csrPem: string): Promise<{ messageBase64: string }> {
    const renewal = await this.renewal(id);
    const challenge = this.liveChallenge(renewal, session, new Date(this.deps.clock.nowMs()));
    const csrDer = this.csrDer(csrPem);
    return { messageBase64: Buffer.from(renewalPopMessage(challenge, csrDer, renewal.algorithm)).toString('base64') };
  }

  private liveChallenge(renewal: Renewal, session: PcSession, at: Date): string {
    const token = renewal.leaseToken;
    if (!token?.startsWith('ch:') || !renewal.leaseUntil || renewal.leaseUntil <= at || renewal.challengeSession !== session.binding) {
      throw new RenewalError('CHALLENGE_EXPIRED', '验证已过期，请重新点击“续期”', `renewal ${renewal.id}: no live challenge for this PC session`);
    }
    return token.slice(3);
  }

  private csrDer(csrPem: string): Uint8Array {
    try {
      return csrDerOf(csrPem);
    } catch (err) {
      throw new RenewalError('CSR_INVALID', '证书请求无法识别，请重新续期', `CSR does not decode: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The stored answer of an issuance, for re-installing after a pulled key (contract step 5). */
  async certificate(id: number): Promise<IssuedAnswer> {
    const renewal = await this.renewal(id);
    const issuance = renewal.currentIssuanceId ? await this.deps.db.getRepository(RenewalIssuanceEntity).findOneBy({ id: renewal.currentIssuanceId }) : null;
    if (!issuance) throw new RenewalError('SERIAL_UNKNOWN', '新证书尚未签发，请重新续期', `renewal ${id} has no issuance`);
    return issuedAnswer(issuance);
  }

  /** CSR → certificate (contract step 4). Idempotent by CSR hash; a new CSR replaces an uninstalled certificate. */
  async submitCsr(id: number, session: PcSession, input: { csrPem: string; keyId: string; popSignatureBase64: string; mediaSerial?: string }, at: Date): Promise<IssuedAnswer> {
    const renewal = await this.renewal(id);
    const csrDer = this.csrDer(input.csrPem);
    const csrSha256 = sha256Hex(csrDer);
    const stored = await this.deps.db.getRepository(RenewalIssuanceEntity).findOneBy({ renewalId: id, csrSha256 });
    if (stored?.state === 'REPLACED') throw new RenewalError('CSR_REPLACED', '该证书请求已作废，请重新续期', `renewal ${id}: CSR ${csrSha256} was replaced by a newer one`);
    if (stored) return issuedAnswer(stored);
    if (renewal.state === 'INSTALLED') throw new RenewalError('ALREADY_RENEWED', '该证书已完成续期，请使用新证书', `renewal ${id} is INSTALLED`);

    // Single use: whatever happens next, this challenge is spent, and the renewal is held while the CA is asked.
    const challenge = this.liveChallenge(renewal, session, at);
    const issuingToken = `csr:${this.deps.random.bytes(16).toString('hex')}`;
    const taken = await this.deps.db.getRepository(RenewalEntity).update(
      { id, leaseToken: `ch:${challenge}` }, { leaseToken: issuingToken, leaseUntil: new Date(at.getTime() + ISSUING_LEASE_MS), state: 'CSR_RECEIVED', updatedAt: at },
    );
    if (!taken.affected) throw new RenewalError('RENEWAL_RUNNING', '该证书正在另一个页面中续期，请在原页面完成', `renewal ${id}: the challenge was taken by another request`);
    await this.audit.record({ renewalId: id, step: 'csr-received', detail: { csrSha256, keyId: input.keyId } });
    let released = false;
    try {
      const issuance = await this.issue(renewal, session, { ...input, challenge, csrDer, csrSha256, issuingToken }, at);
      released = true; // the recording transaction ended the lease
      return issuedAnswer(issuance);
    } finally {
      // The lease ends with this attempt (a failure may be retried at once with a new challenge).
      if (!released) await this.deps.db.getRepository(RenewalEntity).update({ id, leaseToken: issuingToken }, { leaseToken: null, leaseUntil: null });
    }
  }

  private async issue(renewal: Renewal, session: PcSession, input: { csrPem: string; keyId: string; popSignatureBase64: string; challenge: string; csrDer: Uint8Array; csrSha256: string; issuingToken: string; mediaSerial?: string }, at: Date): Promise<RenewalIssuance> {
    const old = await this.certRepo.findById(this.deps.db.manager, renewal.certificateId);
    if (!old) throw new Error(`renewal ${renewal.id}: certificate ${renewal.certificateId} vanished`);
    const parsedOld = parseCertificate(old.pem);
    let csr;
    try {
      csr = parseCsr(input.csrPem);
    } catch (err) {
      throw new RenewalError('CSR_INVALID', '证书请求无法识别，请重新续期', `CSR refused: ${(err as Error).message}`, { cause: err });
    }
    if (!csr.signatureValid) throw new RenewalError('CSR_INVALID', '证书请求的签名无效，请重新续期', `CSR ${input.csrSha256}: self-signature does not verify`);
    if (csr.algorithm !== renewal.algorithm) throw new RenewalError('CSR_INVALID', `新密钥必须与原证书同一算法（${renewal.algorithm}），请重新续期`, `CSR key ${csr.algorithm}, old certificate ${renewal.algorithm}`);
    if (!verifyRenewalPop(parsedOld.spkiDer, renewal.algorithm, input.challenge, input.csrDer, Buffer.from(input.popSignatureBase64, 'base64'))) {
      await this.audit.record({ renewalId: renewal.id, step: 'pop-invalid', detail: { csrSha256: input.csrSha256 } });
      throw new RenewalError('POP_INVALID', '原证书签名验证失败：请确认选择的是要续期的证书并重新续期', `renewal ${renewal.id}: PoP signature does not verify with the old key`);
    }
    await this.checkOld(parsedOld, at);
    const order = await orderOf(this.deps.db.manager, renewal.orderId);
    if (order?.state !== 'PAID' && order?.state !== 'FULFILLED') throw new RenewalError('NOT_ENTITLED', '该订单已不可用于续期（已退款或关闭），请联系客服', `order ${renewal.orderNo} is ${order?.state ?? 'missing'}`);

    const validity = await this.validityFor(parsedOld, old, renewal.years, at);
    let issued: IssuedCertificate;
    try {
      issued = await this.deps.ca.issue({
        requestId: `renewal-${renewal.id}-${input.csrSha256.slice(0, 32)}`,
        csrPem: input.csrPem,
        subject: this.subjectOf(parsedOld),
        profile: { project: old.project, certType: old.certType, usage: 'sign' },
        validity: { notBefore: validity.notBefore, notAfter: validity.notAfter },
        mediaSerial: input.mediaSerial ?? old.mediaSerial ?? undefined,
        replacesSerial: old.serialHex,
        encryptionKey: renewal.dual ? { requestId: `renewal-${renewal.id}` } : undefined,
      });
    } catch (err) {
      await this.audit.record({ renewalId: renewal.id, step: 'ca-failed', detail: { csrSha256: input.csrSha256, error: err instanceof CaError ? err.code : 'internal' } });
      if (err instanceof CaError && err.retryable) throw new RenewalError('CA_UNAVAILABLE', '证书签发服务暂时不可用，请稍后重试（不会重复扣费）', `CA unavailable: ${err.message}`, { cause: err });
      if (err instanceof CaError) throw new RenewalError('CA_REFUSED', `证书签发失败，请联系客服 ${BRAND.hotline}`, `CA refused (${err.code}): ${err.message}`, { cause: err });
      throw err;
    }
    const { issuance, replaced } = await this.record(renewal, session, input, issued, at);
    await this.audit.record({ renewalId: renewal.id, step: 'issued', detail: { serial: issuance.serialHex, encSerial: issuance.encSerialHex, notAfter: issuance.notAfter.toISOString(), cappedBy: validity.cappedBy } });
    await this.revokeReplaced(renewal.id, replaced);
    return issuance;
  }

  /** Stores the issuance and moves the renewal to ISSUED; an earlier uninstalled issuance becomes REPLACED. */
  private async record(renewal: Renewal, session: PcSession, input: { keyId: string; csrSha256: string; issuingToken: string; mediaSerial?: string }, issued: IssuedCertificate, at: Date) {
    try {
      return await inTransaction(this.deps.db, async (em) => {
        const replaced = await em.find(RenewalIssuanceEntity, { where: { renewalId: renewal.id, state: 'ISSUED' } });
        const row: Omit<RenewalIssuance, 'id'> = {
          renewalId: renewal.id, requestId: `renewal-${renewal.id}-${input.csrSha256.slice(0, 32)}`, csrSha256: input.csrSha256, keyId: input.keyId,
          mediaSerial: input.mediaSerial ?? null, state: 'ISSUED', serialHex: issued.serialHex, certificatePem: issued.certificatePem, chainPem: JSON.stringify(issued.chainPem),
          notBefore: issued.notBefore, notAfter: issued.notAfter, encCertificatePem: issued.encryptionPair?.certificatePem ?? null,
          encSerialHex: issued.encryptionPair ? parseCertificate(issued.encryptionPair.certificatePem).serialHex : null,
          envelopedKeyBase64: issued.encryptionPair?.envelopedKeyBase64 ?? null, installedKey: null, revokedAt: null, createdAt: at, updatedAt: at,
        };
        const result = await em.insert(RenewalIssuanceEntity, row);
        const issuance = { ...row, id: Number(result.identifiers[0].id) };
        if (replaced.length) await em.update(RenewalIssuanceEntity, { id: In(replaced.map((r) => r.id)), state: 'ISSUED' }, { state: 'REPLACED', updatedAt: at });
        await em.update(RenewalEntity, { id: renewal.id, state: In(['CHALLENGED', 'CSR_RECEIVED', 'ISSUED', 'ENTITLED']) }, { state: 'ISSUED', currentIssuanceId: issuance.id, challengeSession: session.binding, updatedAt: at });
        // The lease of this attempt ends with the record (one statement fewer than after the commit).
        await em.update(RenewalEntity, { id: renewal.id, leaseToken: input.issuingToken }, { leaseToken: null, leaseUntil: null });
        return { issuance, replaced };
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The same CSR recorded concurrently: that row is the answer.
      const issuance = await this.deps.db.getRepository(RenewalIssuanceEntity).findOneByOrFail({ renewalId: renewal.id, csrSha256: input.csrSha256 });
      return { issuance, replaced: [] as RenewalIssuance[] };
    }
  }

  /** Certificates issued and never installed, replaced by a newer CSR: revoked (superseded) at once, free of charge. */
  async revokeReplaced(renewalId: number, replaced: RenewalIssuance[]): Promise<void> {
    for (const r of replaced) {
      try {
        await this.deps.ca.revoke(r.serialHex, 'superseded');
        await this.deps.db.getRepository(RenewalIssuanceEntity).update({ id: r.id, revokedAt: IsNull() }, { revokedAt: new Date(this.deps.clock.nowMs()) });
        await this.audit.record({ renewalId, step: 'replaced-revoked', detail: { serial: r.serialHex } });
      } catch (err) {
        // The revocation job retries REPLACED issuances not yet revoked.
        this.deps.logger.warn({ err, renewalId, serial: r.serialHex }, 'could not revoke a replaced renewal certificate yet');
      }
    }
  }

  /** REPLACED issuances whose revocation failed earlier (the job's second chance). */
  async pendingReplaced(em: EntityManager, limit = 100): Promise<RenewalIssuance[]> {
    return em.find(RenewalIssuanceEntity, { where: { state: 'REPLACED', revokedAt: IsNull(), createdAt: LessThan(new Date(this.deps.clock.nowMs())) }, take: limit });
  }
}

export const isRenewalError = (err: unknown): err is AppError => err instanceof AppError;
