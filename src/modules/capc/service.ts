import { maskMediaSerial } from '../certificates/view-model';
import QRCode from 'qrcode';
import { type Deps } from '../../deps';
import { type ParsedCertificate } from '../../lib/pki/types';
import { ChallengeService, type IssuedChallenge } from '../binding/challenge';
import { BindingCodeService } from '../binding/codes';
import { type Certificate } from '../certificates/entities';
import { certificateServiceFor, type CertificateService } from '../certificates/service';
import { type BindCodeInput } from './schemas';

const DAY_MS = 86_400_000;
/** "即将到期" on the page: the holder should renew soon. */
const EXPIRING_DAYS = 30;

export type CertificateState = 'valid' | 'expiring' | 'expired-grace' | 'expired' | 'not-yet-valid';

/** What the page shows about a certificate on the key, before anything is recorded. */
export interface CertificateDescription {
  organization: string | null;
  commonName: string | null;
  project: string | null;
  certType: string | null;
  notBefore: string;
  notAfter: string;
  state: CertificateState;
}

export interface BindCodeResult {
  /** 8 characters; the page shows it grouped 4-4. */
  code: string;
  expiresAt: string;
  /** The page counts down from this rather than from its own clock, which may be wrong. */
  expiresInSeconds: number;
  /** What the QR encodes: the phone page with the QR token, never the code. */
  qrUrl: string;
  /** PNG as a data: URL, so the page sets an <img src> and never injects markup. */
  qrDataUrl: string;
  certificate: {
    organization: string | null;
    commonName: string | null;
    project: string;
    certType: string;
    notBefore: string;
    notAfter: string;
    mediaSerialMasked: string;
    expired: boolean;
  };
}

/**
 * The QR's rendering, fixed so a test can render the same URL and compare. A small PNG (2 px a module) that the
 * page scales up with `image-rendering: pixelated`: crisp at any screen scale, where an SVG scaled by 125 % shows
 * seams between its rows.
 */
export const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 1, scale: 2 } as const;


/**
 * The /capc/ use cases: hand out a challenge, describe the certificates on a key, and turn a signed challenge
 * into a binding code. Order matters in bindCode: the challenge is consumed first (a failed try still uses it
 * up, so signatures cannot be tried against it at leisure), the signature is checked before the certificate is
 * looked at (proof of possession before any record is touched), then the certificate is accepted, then a code
 * is issued (which replaces this certificate's previous code).
 */
export class CapcService {
  readonly challenges: ChallengeService;
  readonly certificates: CertificateService;
  private readonly codes: BindingCodeService;

  constructor(private readonly deps: Deps) {
    this.challenges = new ChallengeService({ store: deps.store, random: deps.random, clock: deps.clock, publicBaseUrl: deps.config.publicBaseUrl });
    this.certificates = certificateServiceFor(deps);
    this.codes = new BindingCodeService(deps);
  }

  issueChallenge(sessionKey: string): Promise<IssuedChallenge> {
    return this.challenges.issue(sessionKey);
  }

  describe(pems: string[], at: Date): Array<CertificateDescription | null> {
    return pems.map((pem) => {
      let cert: ParsedCertificate;
      try {
        cert = this.certificates.parse(pem);
      } catch {
        return null;
      }
      const kind = this.certificates.rules.classify(cert);
      return {
        organization: cert.subject.organization ?? null,
        commonName: cert.subject.commonName ?? null,
        project: kind?.project ?? null,
        certType: kind?.certType ?? null,
        notBefore: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        state: this.stateOf(cert, at),
      };
    });
  }

  private stateOf(cert: Pick<ParsedCertificate, 'notBefore' | 'notAfter'>, at: Date): CertificateState {
    const now = at.getTime();
    if (cert.notBefore.getTime() > now) return 'not-yet-valid';
    if (cert.notAfter.getTime() < now) {
      return cert.notAfter.getTime() + this.deps.config.certificates.bindExpiredGraceDays * DAY_MS < now ? 'expired' : 'expired-grace';
    }
    return cert.notAfter.getTime() - now < EXPIRING_DAYS * DAY_MS ? 'expiring' : 'valid';
  }

  async bindCode(sessionKey: string, challengeNonce: string, input: BindCodeInput, at: Date): Promise<BindCodeResult> {
    const signedData = await this.challenges.take(sessionKey, challengeNonce);
    const cert = this.certificates.parse(input.certificatePem);
    this.certificates.assertPossession(cert, signedData, Buffer.from(input.signatureBase64, 'base64'));
    const certificate = await this.certificates.acceptPresented({ pem: input.certificatePem, mediaSerial: input.mediaSerial, at });
    const issued = await this.codes.issue(certificate.id, { sandbox: this.deps.config.sandbox });
    const qrUrl = `${this.deps.config.publicBaseUrl}/h5/bind?t=${encodeURIComponent(issued.qrToken)}`;
    const qrDataUrl = await QRCode.toDataURL(qrUrl, QR_OPTIONS);
    this.deps.logger.info({ certificateId: certificate.id, media: maskMediaSerial(input.mediaSerial), expiresAt: issued.expiresAt }, 'binding code issued');
    return {
      code: issued.code,
      expiresAt: issued.expiresAt.toISOString(),
      expiresInSeconds: Math.max(0, Math.round((issued.expiresAt.getTime() - this.deps.clock.nowMs()) / 1000)),
      qrUrl,
      qrDataUrl,
      certificate: summaryOf(certificate, at),
    };
  }
}

function summaryOf(c: Certificate, at: Date): BindCodeResult['certificate'] {
  return {
    organization: c.organization,
    commonName: c.commonName,
    project: c.project,
    certType: c.certType,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    mediaSerialMasked: maskMediaSerial(c.mediaSerial ?? ''),
    expired: c.notAfter.getTime() < at.getTime(),
  };
}
