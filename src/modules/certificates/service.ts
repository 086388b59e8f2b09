import { type DataSource } from 'typeorm';
import { type AppConfig } from '../../config';
import { ForbiddenError, UpstreamError, ValidationError } from '../../lib/errors';
import { parseCertificate } from '../../lib/pki/certificate';
import { verifySignature } from '../../lib/pki/signature';
import { loadTrustStore, type TrustStore } from '../../lib/pki/trust-store';
import { inTransaction } from '../../lib/db/transaction';
import { type Logger } from '../../lib/logger';
import { type ParsedCertificate } from '../../lib/pki/types';
import { type CertificateAuthority } from '../../providers/ca/types';
import { type Certificate } from './entities';
import { ProjectRules } from './projects';
import { CertificateRepository } from './repository';
import { BRAND } from '../../config/brand';

export type RefusalReason = 'bad-signature' | 'untrusted' | 'not-end-entity' | 'revoked' | 'not-yet-valid' | 'expired' | 'needs-review';

/** A presented certificate we will not work with. `reason` lets callers (and tests) tell the cases apart. */
export class CertificateRefusedError extends ForbiddenError {
  constructor(readonly reason: RefusalReason, userMessage: string, detail: string) {
    super(userMessage, detail);
  }
}

export interface PresentedCertificate {
  pem: string;
  /** 介质编号 as the key agent reported it. */
  mediaSerial: string;
  at: Date;
}

const DAY_MS = 86_400_000;

export interface CertificateDeps {
  config: AppConfig;
  db: DataSource;
  ca: CertificateAuthority;
  logger: Logger;
}

/**
 * Decides whether a certificate a holder presents (from the U-KEY, through the key agent) is one we work with,
 * and records it. The checks, in order: it parses, it is an end-entity certificate, it chains to a trusted root,
 * it is not revoked (our record or the CA), it is valid or expired no longer than the grace period. Then a known
 * certificate is returned (its media serial refreshed), and an unknown one is imported when a project rule
 * classifies it, or queued for an operator when none does.
 */
export class CertificateService {
  private readonly repo = new CertificateRepository();
  private trust?: Promise<TrustStore>;

  constructor(private readonly deps: CertificateDeps, readonly rules: ProjectRules) {}

  /** Loaded on first use (the CA is asked for its anchors), then kept; a failed load is retried next time. */
  private trustStore(): Promise<TrustStore> {
    if (!this.trust) {
      const { trustedRootsFile } = this.deps.config.ca;
      this.trust = this.deps.ca.trustAnchors().then((anchors) => loadTrustStore({ anchors, trustedRootsFile }));
      this.trust.catch(() => {
        this.trust = undefined;
      });
    }
    return this.trust;
  }

  /** Parses a PEM, refusing anything that is not one readable X.509 certificate. */
  parse(pem: string): ParsedCertificate {
    try {
      return parseCertificate(pem);
    } catch (err) {
      throw new ValidationError('无法识别该证书，请确认插入的是数安时代（GDCA）签发的 U-KEY', `certificate does not parse: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Builds the trust store now: main.ts may call this at start so a bad CA_TRUSTED_ROOTS_FILE stops the start. */
  async ready(): Promise<void> {
    await this.trustStore();
  }

  /**
   * Proof of possession: the signature over `data` must verify with the certificate's public key, i.e. the
   * holder's key signed it, not just someone who copied the (public) certificate.
   */
  assertPossession(cert: ParsedCertificate, data: Uint8Array, signature: Uint8Array): void {
    if (!verifySignature(cert.spkiDer, data, signature)) {
      throw new CertificateRefusedError(
        'bad-signature',
        '签名验证失败：所选证书与 U-KEY 中的密钥不匹配，请重新选择证书后再试',
        `challenge signature does not verify with the key of ${cert.fingerprintSha256} (${cert.algorithm})`,
      );
    }
  }

  async acceptPresented(input: PresentedCertificate): Promise<Certificate> {
    const cert = this.parse(input.pem);
    await this.verify(cert, input.at);
    const sandbox = this.deps.config.sandbox;

    const outcome = await inTransaction(this.deps.db, async (tx): Promise<{ certificate: Certificate } | { review: string }> => {
      const known = await this.repo.findByFingerprint(tx, cert.fingerprintSha256);
      if (known) {
        if (known.mediaSerial !== input.mediaSerial) {
          await this.repo.updateMediaSerial(tx, known.id, input.mediaSerial, input.at);
          return { certificate: { ...known, mediaSerial: input.mediaSerial, updatedAt: input.at } };
        }
        return { certificate: known };
      }
      const kind = this.rules.classify(cert);
      if (!kind) {
        const reason = `no project rule matches (issuer ${cert.issuerDn}; policies ${cert.policyOids.join(',') || 'none'}; OU ${cert.subject.organizationalUnit ?? 'none'})`;
        await this.repo.queueForReview(tx, {
          fingerprintSha256: cert.fingerprintSha256, subjectDn: cert.subjectDn.slice(0, 512), issuerDn: cert.issuerDn.slice(0, 512),
          policyOids: cert.policyOids.join(',').slice(0, 512), pem: cert.pem, reason: reason.slice(0, 200), sandbox,
        }, input.at);
        return { review: reason };
      }
      const certificate = await this.repo.insertOnce(tx, {
        fingerprintSha256: cert.fingerprintSha256, serialHex: cert.serialHex, issuerDn: cert.issuerDn, subjectDn: cert.subjectDn,
        organization: cert.subject.organization ?? null, creditCode: cert.subject.creditCode ?? null, commonName: cert.subject.commonName ?? null,
        algorithm: cert.algorithm, usage: cert.usage, mediaSerial: input.mediaSerial, project: kind.project, certType: kind.certType,
        notBefore: cert.notBefore, notAfter: cert.notAfter, pem: cert.pem, sandbox,
      }, input.at);
      return { certificate };
    });

    // Thrown after the commit: the review row must stay even though the holder is refused.
    if ('review' in outcome) {
      this.deps.logger.info({ fingerprint: cert.fingerprintSha256, detail: outcome.review }, 'certificate queued for review');
      throw new CertificateRefusedError('needs-review', `该证书类型暂不支持在线办理，已提交人工审核。审核通过后请重新获取绑定码，如有疑问请拨打客服热线 ${BRAND.hotline}`, outcome.review);
    }
    return outcome.certificate;
  }

  /** The refusals that do not depend on our records: chain, revocation at the CA, validity. */
  private async verify(cert: ParsedCertificate, at: Date): Promise<void> {
    await this.checkChainAndStatus(cert, at);
    this.checkDates(cert, at);
  }

  /**
   * The refusals that do not depend on dates: an end-entity certificate, chaining to a trusted root, not revoked
   * (our record or the CA). Returns the verified path, leaf first (its second element is the issuing CA). Renewal
   * uses this and judges expiry by the project's renewal window instead of the binding grace period.
   */
  async checkChainAndStatus(cert: ParsedCertificate, at: Date): Promise<ParsedCertificate[]> {
    if (cert.isCa) throw new CertificateRefusedError('not-end-entity', '这是一张 CA 证书，请选择 U-KEY 中的用户证书', `presented a CA certificate ${cert.subjectDn}`);

    const chain = await (await this.trustStore()).verify(cert, at);
    if (!chain.ok) {
      throw new CertificateRefusedError('untrusted', '该证书不是由受信任的证书机构签发，无法办理', `chain verification failed: ${chain.reason} (issuer ${cert.issuerDn}, serial ${cert.serialHex})`);
    }

    const known = await this.repo.findByFingerprint(this.deps.db.manager, cert.fingerprintSha256);
    if (known?.status === 'revoked') throw revoked(`our record ${known.id} is revoked since ${known.revokedAt?.toISOString() ?? '?'}`);
    let status;
    try {
      status = await this.deps.ca.status(cert.serialHex);
    } catch (err) {
      // Fail closed: binding a revoked certificate is worse than asking the holder to try again.
      throw new UpstreamError('暂时无法核验证书状态，请稍后再试', `CA status query failed for ${cert.serialHex}: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (status.status === 'revoked') {
      if (known) await this.repo.markRevoked(this.deps.db.manager, known.id, status.revokedAt ?? at);
      throw revoked(`CA reports serial ${cert.serialHex} revoked${status.revokedAt ? ` at ${status.revokedAt.toISOString()}` : ''} (${status.reason ?? 'no reason'})`);
    }
    return chain.path;
  }

  /** Certificates of the issuing CA (by the leaf's chain): its notAfter caps what a renewal can get. */
  async issuerOf(cert: ParsedCertificate, at: Date): Promise<ParsedCertificate | undefined> {
    const chain = await (await this.trustStore()).verify(cert, at);
    return chain.ok ? chain.path[1] : undefined;
  }

  private checkDates(cert: ParsedCertificate, at: Date): void {

    if (cert.notBefore.getTime() > at.getTime()) {
      throw new CertificateRefusedError('not-yet-valid', `该证书尚未生效（生效时间 ${shanghaiDate(cert.notBefore)}），请检查电脑时间或稍后再试`, `notBefore ${cert.notBefore.toISOString()} is after ${at.toISOString()}`);
    }
    const graceDays = this.deps.config.certificates.bindExpiredGraceDays;
    if (cert.notAfter.getTime() + graceDays * DAY_MS < at.getTime()) {
      throw new CertificateRefusedError(
        'expired',
        `该证书已过期超过 ${graceDays} 天（${shanghaiDate(cert.notAfter)} 到期），无法在线续期，请联系客服 ${BRAND.hotline} 办理新证书`,
        `notAfter ${cert.notAfter.toISOString()} + ${graceDays} days is before ${at.toISOString()}`,
      );
    }
  }
}

function revoked(detail: string): CertificateRefusedError {
  return new CertificateRefusedError('revoked', `该证书已吊销，无法办理。如有疑问请拨打客服热线 ${BRAND.hotline}`, detail);
}

/** A date as users read it (Asia/Shanghai). */
export function shanghaiDate(d: Date): string {
  return new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d).replace(/\//g, '-');
}

const perApp = new WeakMap<object, CertificateService>();

/**
 * The app's one CertificateService: the project rules are read once, the trust store built once, whichever
 * router asks first. Keyed by the deps object, so two app instances in one process (tests) keep their own.
 */
export function certificateServiceFor(deps: CertificateDeps): CertificateService {
  let service = perApp.get(deps);
  if (!service) {
    service = new CertificateService(deps, ProjectRules.load(deps.config.certificates.projectsFile));
    perApp.set(deps, service);
  }
  return service;
}
