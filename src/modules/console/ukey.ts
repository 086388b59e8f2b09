import { type Deps } from '../../deps';
import { ValidationError } from '../../lib/errors';
import { pagePolicy } from '../../lib/http/security-headers';
import { type ParsedCertificate } from '../../lib/pki/types';
import { certificateServiceFor } from '../certificates/service';
import { type Operator, OperatorEntity } from './entities';

/** A challenge is good for this long, once. */
const CHALLENGE_TTL_MS = 2 * 60_000;
const PREFIX = 'console-ukey:';

export type UkeyPurpose = 'login' | 'step-up' | 'enrol';

export interface UkeyChallenge { nonce: string; dataBase64: string; expiresAt: string }

/**
 * The operator's U-KEY as a second factor (a cryptographic one, as 等保三级 expects): the server hands out a
 * single-use challenge bound to the session and the username, the key agent signs it with the key of the enrolled
 * certificate (the agent's `sign`), and the server checks the signature with that certificate's public key, the
 * certificate's chain, revocation and validity, as the certificate service does for holders.
 */
export class OperatorUkeys {
  constructor(private readonly deps: Deps) {}

  /** A fresh challenge for `purpose` ('login' | 'enrol') and `username`; taken once by `take`. */
  async issue(purpose: UkeyPurpose, username: string): Promise<UkeyChallenge> {
    const nonce = this.deps.random.bytes(24).toString('base64url');
    const expiresAt = new Date(this.deps.clock.nowMs() + CHALLENGE_TTL_MS).toISOString();
    const text = `CAM-CONSOLE-${purpose.toUpperCase()}/1\n${this.deps.config.console.origin}\n${username}\n${nonce}\n${expiresAt}`;
    const dataBase64 = Buffer.from(text, 'utf8').toString('base64');
    await this.deps.store.set(`${PREFIX}${nonce}`, dataBase64, { ttlMs: CHALLENGE_TTL_MS });
    return { nonce, dataBase64, expiresAt };
  }

  /** The challenge's signed data, once (compare-and-delete: two posts racing with one challenge cannot both use it). */
  async take(nonce: string | undefined): Promise<Buffer | null> {
    if (!nonce) return null;
    const data = await this.deps.store.get(`${PREFIX}${nonce}`);
    if (!data || !(await this.deps.store.compareAndDelete(`${PREFIX}${nonce}`, data))) return null;
    return Buffer.from(data, 'base64');
  }

  /**
   * Checks a certificate + signature over `data`: possession, chain to a trusted root, not revoked, within its
   * validity. Throws the certificate service's Chinese refusal; returns the parsed certificate.
   */
  async verify(pem: string, data: Buffer, signatureBase64: string): Promise<ParsedCertificate> {
    const certificates = certificateServiceFor(this.deps);
    const cert = certificates.parse(pem);
    certificates.assertPossession(cert, data, Buffer.from(signatureBase64, 'base64'));
    const at = new Date(this.deps.clock.nowMs());
    await certificates.checkChainAndStatus(cert, at);
    if (cert.notBefore > at || cert.notAfter < at) throw new ValidationError('该 U-KEY 证书不在有效期内，请联系管理员重新登记', `operator U-KEY certificate outside validity (${cert.notBefore.toISOString()} – ${cert.notAfter.toISOString()})`);
    return cert;
  }

  /** The login factor: the enrolled certificate, its signature over the taken challenge, and its checks. */
  async accept(op: Operator, pem: string, data: Buffer | null, signatureBase64: string, purpose: 'login' | 'step-up' = 'login'): Promise<boolean> {
    if (!op.ukeyFingerprint || !data) return false;
    try {
      const cert = await this.verify(pem, data, signatureBase64);
      const text = data.toString('utf8').split('\n');
      return cert.fingerprintSha256 === op.ukeyFingerprint && text[0] === `CAM-CONSOLE-${purpose.toUpperCase()}/1` && text[2] === op.username;
    } catch (err) {
      this.deps.logger.info({ err, operatorId: op.id }, 'console U-KEY factor refused');
      return false;
    }
  }

  /** Enrols (or replaces) the operator's U-KEY after the same checks; returns the fingerprint. */
  async enrol(op: Operator, pem: string, data: Buffer, signatureBase64: string): Promise<string> {
    const cert = await this.verify(pem, data, signatureBase64);
    const text = data.toString('utf8').split('\n');
    if (text[0] !== 'CAM-CONSOLE-ENROL/1' || text[2] !== op.username) throw new ValidationError('验证已过期，请重新登记', 'enrol challenge for another purpose or user');
    await this.deps.db.getRepository(OperatorEntity).update({ id: op.id }, { ukeyFingerprint: cert.fingerprintSha256, ukeyCertificatePem: cert.pem, updatedAt: new Date(this.deps.clock.nowMs()) });
    return cert.fingerprintSha256;
  }

  async clear(operatorId: number): Promise<void> {
    await this.deps.db.getRepository(OperatorEntity).update({ id: operatorId }, { ukeyFingerprint: null, ukeyCertificatePem: null, updatedAt: new Date(this.deps.clock.nowMs()) });
  }
}

export const shortFingerprint = (fp: string | null) => (fp ? `${fp.slice(0, 8)}…${fp.slice(-8)}` : '');

/** The pages that talk to the key agent on the operator's PC may fetch from it (and nowhere else). */
export const keyAgentPolicy = (deps: Pick<Deps, 'config'>) => pagePolicy({ connect: [deps.config.certificates.keyAgentUrl] });
