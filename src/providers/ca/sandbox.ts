import { createHash, randomBytes } from 'node:crypto';
import { isUniqueViolation } from '../../lib/db/sql';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, type Name } from '@peculiar/asn1-x509';
import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { parseCertificate } from '../../lib/pki/certificate';
import { type CrlIssuer } from '../../lib/pki/crl';
import { type ParsedCsr } from '../../lib/pki/csr';
import { subjectToName } from '../../lib/pki/names';
import { OID } from '../../lib/pki/oids';
import { verifySignature } from '../../lib/pki/signature';
import { createSoftSigner, generateSoftKeyPair } from '../../lib/pki/soft-keys';
import { type CertificateSubject, type KeyAlgorithm, type ParsedCertificate } from '../../lib/pki/types';
import { buildCertificate, type CertificateSigner } from '../../lib/pki/x509-builder';
import { type SandboxCaAuthority, SandboxCaAuthorityEntity, type SandboxCaIssued, SandboxCaIssuedEntity } from './entities';
import { type PublishedCrl, SandboxCrlPublisher } from './sandbox-crl';
import { SandboxKmc } from './sandbox-kmc';
import { canonicalSerial, checkedCsr, randomSerial } from './sandbox-support';
export { canonicalSerial, randomSerial } from './sandbox-support';
import { decryptPrivateKey, encryptPrivateKey, parseKeyEncryptionKey } from './key-protection';
import {
  CaError, type CertificateAuthority, type CertificateStatus, type IssuedCertificate, type IssueRequest, type RevocationReason,
} from './types';

/**
 * Certificate policies of the sandbox, under a private arc (1.3.6.1.4.1.59999 stands for our enterprise
 * number; a real deployment matches the production CA's own policy OIDs in config/projects.json instead):
 *   .1.1 机构证书   .1.2 个人证书   .1.3 机构员工证书   .1.4 设备证书
 * The project goes in the subject's OU, as the project rules expect (subjectOu + policyOid).
 */
export const SANDBOX_POLICY_ARC = '1.3.6.1.4.1.59999.1';
export const SANDBOX_CERT_TYPE_POLICIES: Readonly<Record<string, string>> = {
  机构证书: `${SANDBOX_POLICY_ARC}.1`,
  个人证书: `${SANDBOX_POLICY_ARC}.2`,
  机构员工证书: `${SANDBOX_POLICY_ARC}.3`,
  设备证书: `${SANDBOX_POLICY_ARC}.4`,
};

interface HierarchySpec {
  algorithm: KeyAlgorithm;
  root: string;
  issuing: string;
  /** Leaf key algorithms this hierarchy issues for. */
  issues: KeyAlgorithm[];
  /** The issuing CA's CRL is `/crl/<crlName>.crl`. */
  crlName: string;
}
export const SANDBOX_HIERARCHIES: readonly HierarchySpec[] = [
  { algorithm: 'RSA-2048', root: '数安 Sandbox Root CA (RSA)', issuing: '数安 Sandbox Issuing CA (RSA)', issues: ['RSA-2048', 'ECDSA-P256'], crlName: 'sandbox-rsa' },
  { algorithm: 'SM2', root: '数安 Sandbox Root CA (SM2)', issuing: '数安 Sandbox Issuing CA (SM2)', issues: ['SM2'], crlName: 'sandbox-sm2' },
];

const DAY_MS = 86_400_000;
const ROOT_DAYS = 20 * 365;
const ISSUING_DAYS = 10 * 365;
/** CA certificates start a day early so leaves backdated a little (clock skew, tests) still nest inside. */
const CA_BACKDATE_MS = DAY_MS;

interface LoadedAuthority {
  row: SandboxCaAuthority;
  cert: ParsedCertificate;
  /** The subject Name exactly as encoded in the certificate (the issuer field of what it signs). */
  name: Name;
}
interface ReadyHierarchy {
  spec: HierarchySpec;
  root: LoadedAuthority;
  issuing: LoadedAuthority;
  signer: CertificateSigner;
  crlIssuer: CrlIssuer;
}

export interface BuiltInCaDeps {
  db: DataSource;
  clock: Clock;
  logger: Logger;
  /** base64 of 32 bytes (config.ca.keyEncryptionKey). */
  keyEncryptionKey: string | undefined;
  /** e.g. `${PUBLIC_BASE_URL}/crl`: certificates then carry `<crlBaseUrl>/<crlName>.crl` as CRL distribution point. */
  crlBaseUrl?: string;
}


/**
 * The built-in CA of sandbox mode: two real hierarchies (RSA-2048 root → RSA issuing CA for RSA and ECDSA
 * leaves; SM2 root → SM2 issuing CA for SM2 leaves), created at first start, kept in the database with
 * private keys encrypted (key-protection.ts). Instances starting together converge on one hierarchy: the
 * authority name is unique, the loser of the insert re-reads the winner's row.
 */
export class BuiltInCa implements CertificateAuthority {
  readonly mode = 'sandbox' as const;
  private readonly kek: Buffer;
  private ready?: Promise<ReadyHierarchy[]>;
  private readonly crls: SandboxCrlPublisher;
  private readonly kmc: SandboxKmc;

  constructor(private readonly deps: BuiltInCaDeps) {
    this.kek = parseKeyEncryptionKey(deps.keyEncryptionKey);
    this.crls = new SandboxCrlPublisher(deps);
    this.kmc = new SandboxKmc({ ...deps, kek: this.kek });
  }

  /** Creates or loads both hierarchies; idempotent, and every other call waits for it. */
  async ensure(): Promise<this> {
    await this.hierarchies();
    return this;
  }

  private hierarchies(): Promise<ReadyHierarchy[]> {
    if (!this.ready) {
      this.ready = (async () => {
        const out: ReadyHierarchy[] = [];
        for (const spec of SANDBOX_HIERARCHIES) out.push(await this.ensureHierarchy(spec));
        return out;
      })();
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  private async ensureHierarchy(spec: HierarchySpec): Promise<ReadyHierarchy> {
    const root = await this.ensureAuthority(spec, 'root');
    const issuing = await this.ensureAuthority(spec, 'issuing', root);
    const key = decryptPrivateKey(this.kek, issuing.row.name, issuing.row.encryptedKey);
    const sign = createSoftSigner(spec.algorithm, key);
    // Once per start instead of once per certificate: the stored key must be the certificate's key.
    const probe = randomBytes(32);
    if (!verifySignature(issuing.cert.spkiDer, probe, sign(probe))) {
      throw new Error(`sandbox CA ${issuing.row.name}: the stored private key does not match its certificate`);
    }
    const crlIssuer = { name: issuing.name, spkiDer: issuing.cert.spkiDer, algorithm: spec.algorithm, privateKeyPkcs8Der: key };
    return { spec, root, issuing, signer: { name: issuing.name, spkiDer: issuing.cert.spkiDer, algorithm: spec.algorithm, sign }, crlIssuer };
  }

  private async ensureAuthority(spec: HierarchySpec, role: 'root' | 'issuing', parent?: LoadedAuthority): Promise<LoadedAuthority> {
    const repo = this.deps.db.getRepository(SandboxCaAuthorityEntity);
    const name = role === 'root' ? spec.root : spec.issuing;
    let row = await repo.findOneBy({ name });
    if (!row) {
      const created = await this.createAuthority(spec, name, role, parent);
      try {
        await repo.insert(created);
        row = created;
        this.deps.logger.info({ authority: name, fingerprint: created.fingerprintSha256 }, 'sandbox CA created');
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        row = await repo.findOneByOrFail({ name }); // another instance won the race: use its authority
      }
    }
    const cert = parseCertificate(row.certificatePem);
    if (row.algorithm !== spec.algorithm || !cert.isCa) throw new Error(`sandbox CA ${name}: stored row is not a ${spec.algorithm} CA`);
    if (parent && row.parentName !== parent.row.name) throw new Error(`sandbox CA ${name}: stored issuer ${row.parentName} is not ${parent.row.name}`);
    return { row, cert, name: AsnConvert.parse(cert.der, Certificate).tbsCertificate.subject };
  }

  private async createAuthority(spec: HierarchySpec, name: string, role: 'root' | 'issuing', parent?: LoadedAuthority): Promise<SandboxCaAuthority> {
    const now = this.deps.clock.nowMs();
    const key = generateSoftKeyPair(spec.algorithm);
    const subject = subjectToName({ commonName: name, organizationalUnit: 'Sandbox', organization: '数安 CA 管家', country: 'CN' });
    const issuer: CertificateSigner | undefined = parent && {
      name: parent.name,
      spkiDer: parent.cert.spkiDer,
      algorithm: spec.algorithm,
      sign: createSoftSigner(spec.algorithm, decryptPrivateKey(this.kek, parent.row.name, parent.row.encryptedKey)),
    };
    const der = await buildCertificate({
      serial: randomSerial(),
      subject,
      subjectSpkiDer: key.spkiDer,
      notBefore: new Date(now - CA_BACKDATE_MS),
      notAfter: new Date(now + (role === 'root' ? ROOT_DAYS : ISSUING_DAYS) * DAY_MS),
      issuer,
      selfSign: issuer ? undefined : createSoftSigner(spec.algorithm, key.privateKeyPkcs8Der),
      ca: role === 'root' ? {} : { pathLen: 0 },
      keyUsage: ['keyCertSign', 'crlSign', 'digitalSignature'],
    });
    const cert = parseCertificate(der);
    return {
      name,
      role,
      algorithm: spec.algorithm,
      parentName: parent?.row.name ?? null,
      certificatePem: cert.pem,
      encryptedKey: encryptPrivateKey(this.kek, name, key.privateKeyPkcs8Der),
      fingerprintSha256: cert.fingerprintSha256,
      createdAt: new Date(now),
    } as SandboxCaAuthority;
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    if (!request.requestId || request.requestId.length > 128) throw new CaError('invalid-request', 'requestId: 1 to 128 characters');
    const hierarchies = await this.hierarchies();
    const csr = checkedCsr(request.csrPem);
    const h = hierarchies.find((x) => x.spec.issues.includes(csr.algorithm))!;
    const dual = request.encryptionKey;
    if (dual && (csr.algorithm !== 'SM2' || request.profile.usage !== 'sign' || !dual.requestId || dual.requestId.length > 120)) {
      throw new CaError('invalid-request', 'encryptionKey: only with an SM2 signing CSR, and a requestId of 1 to 120 characters');
    }
    if (request.replacesSerial !== undefined) await this.checkReplaced(request.replacesSerial, request.requestId);
    const signing = await this.issueOne(request, csr, h, hierarchies);
    if (!dual) return signing;
    const pair = await this.kmc.deliver({
      keyRequestId: dual.requestId,
      signingSpkiDer: csr.spkiDer,
      certificateFor: (spkiDer) => this.leafRow(h, { ...request, requestId: `kmc:${dual.requestId}`, profile: { ...request.profile, usage: 'encrypt' } }, spkiDer, 'SM2'),
    });
    return { ...signing, encryptionPair: { certificatePem: pair.certificatePem, envelopedKeyBase64: pair.envelopedKeyBase64 } };
  }

  private async issueOne(request: IssueRequest, csr: ParsedCsr, h: ReadyHierarchy, hierarchies: ReadyHierarchy[]): Promise<IssuedCertificate> {
    const repo = this.deps.db.getRepository(SandboxCaIssuedEntity);
    const spkiSha256 = createHash('sha256').update(csr.spkiDer).digest('hex');
    const previous = await repo.findOneBy({ requestId: request.requestId });
    if (previous) return this.repeated(previous, spkiSha256, hierarchies);
    const row = await this.leafRow(h, request, csr.spkiDer, csr.algorithm);
    try {
      await repo.insert(row);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The same requestId issued concurrently: the stored certificate wins, ours is never handed out.
      const stored = await repo.findOneBy({ requestId: request.requestId });
      if (!stored) throw err;
      return this.repeated(stored, spkiSha256, hierarchies);
    }
    this.deps.logger.info({ requestId: request.requestId, serial: row.serialHex, issuer: row.issuerName, algorithm: row.algorithm, certType: row.certType }, 'sandbox CA issued a certificate');
    return { serialHex: row.serialHex, certificatePem: row.certificatePem, chainPem: [h.issuing.cert.pem], notBefore: row.notBefore, notAfter: row.notAfter };
  }

  /** Builds and signs a leaf (signing or encryption, per the profile) and the row recording it; stores nothing. */
  private async leafRow(h: ReadyHierarchy, request: IssueRequest, spkiDer: Uint8Array, algorithm: KeyAlgorithm): Promise<SandboxCaIssued> {
    const policy = SANDBOX_CERT_TYPE_POLICIES[request.profile.certType];
    if (!policy) throw new CaError('invalid-request', `unknown certificate type ${request.profile.certType} (known: ${Object.keys(SANDBOX_CERT_TYPE_POLICIES).join(', ')})`);
    const { notBefore, notAfter } = request.validity;
    if (!(notAfter.getTime() > notBefore.getTime())) throw new CaError('invalid-request', 'validity: notAfter must be after notBefore');
    if (notAfter.getTime() > h.issuing.cert.notAfter.getTime()) throw new CaError('invalid-request', `validity: notAfter ${notAfter.toISOString()} is beyond the issuing CA's ${h.issuing.cert.notAfter.toISOString()}`);
    const subject: CertificateSubject = { ...request.subject, organizationalUnit: request.profile.project };
    let der: Uint8Array;
    try {
      der = await buildCertificate({
        serial: randomSerial(),
        subject,
        subjectSpkiDer: spkiDer,
        notBefore,
        notAfter,
        issuer: h.signer,
        keyUsage: request.profile.usage === 'sign' ? ['digitalSignature', 'nonRepudiation'] : ['keyEncipherment', 'dataEncipherment', ...(algorithm === 'RSA-2048' ? [] : ['keyAgreement' as const])],
        extendedKeyUsage: [OID.kpClientAuth, OID.kpEmailProtection],
        policyOids: [policy],
        crlDistributionPoints: this.deps.crlBaseUrl ? [`${this.deps.crlBaseUrl}/${h.spec.crlName}.crl`] : undefined,
      }, { verify: false /* the key was matched to its certificate at start */ });
    } catch (err) {
      throw new CaError('invalid-request', `cannot build the certificate: ${(err as Error).message}`, undefined, { cause: err });
    }
    const cert = parseCertificate(der);
    return {
      requestId: request.requestId,
      serialHex: canonicalSerial(cert.serialHex),
      issuerName: h.issuing.row.name,
      algorithm,
      usage: request.profile.usage,
      project: request.profile.project,
      certType: request.profile.certType,
      subjectDn: cert.subjectDn,
      spkiSha256: createHash('sha256').update(spkiDer).digest('hex'),
      mediaSerial: request.mediaSerial ?? null,
      certificatePem: cert.pem,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      status: 'good',
      revokedAt: null,
      revocationReason: null,
      sandbox: true,
      createdAt: new Date(this.deps.clock.nowMs()),
    } as SandboxCaIssued;
  }

  private repeated(row: SandboxCaIssued, spkiSha256: string, hierarchies: ReadyHierarchy[]): IssuedCertificate {
    if (row.spkiSha256 !== spkiSha256) throw new CaError('request-conflict', `requestId ${row.requestId} was already used for another public key`);
    const issuing = hierarchies.find((h) => h.issuing.row.name === row.issuerName)!.issuing;
    return { serialHex: row.serialHex, certificatePem: row.certificatePem, chainPem: [issuing.cert.pem], notBefore: row.notBefore, notAfter: row.notAfter };
  }

  /**
   * A renewal names the certificate it replaces: it must be one this CA issued (a revoked one too: a retry after
   * the old one was superseded and revoked still gets its certificate). Logged, as the CA's record of the link.
   */
  private async checkReplaced(replacesSerial: string, requestId: string): Promise<void> {
    const serial = canonicalSerial(replacesSerial);
    const old = await this.deps.db.getRepository(SandboxCaIssuedEntity).findOneBy({ serialHex: serial });
    if (!old) throw new CaError('unknown-serial', `replacesSerial ${serial}: no such certificate was issued by the sandbox CA`);
    this.deps.logger.info({ requestId, replacesSerial: serial }, 'sandbox CA: renewal of an issued certificate');
  }

  /** Idempotent: revoking a revoked certificate keeps the first date and reason. */
  async revoke(serialHex: string, reason: RevocationReason): Promise<void> {
    const repo = this.deps.db.getRepository(SandboxCaIssuedEntity);
    const serial = canonicalSerial(serialHex);
    const row = await repo.findOneBy({ serialHex: serial });
    if (!row) throw new CaError('unknown-serial', `no certificate with serial ${serial} was issued by the sandbox CA`);
    if (row.status === 'revoked') return;
    await repo.update({ id: row.id, status: 'good' }, { status: 'revoked', revokedAt: new Date(this.deps.clock.nowMs()), revocationReason: reason });
    this.deps.logger.info({ serial, reason }, 'sandbox CA revoked a certificate');
    const h = (await this.hierarchies()).find((x) => x.issuing.row.name === row.issuerName);
    // The revocation stands if publishing fails: the next read of the CRL sees it unlisted and re-signs.
    if (h) await this.crls.refresh(h.issuing.row.name, h.crlIssuer).catch((err) => this.deps.logger.error({ err, issuer: row.issuerName }, 'sandbox CA: CRL refresh failed'));
  }

  /** The current CRL of the issuing CA published as `/crl/<crlName>.crl`; undefined for an unknown name. */
  async crl(crlName: string): Promise<PublishedCrl | undefined> {
    const h = (await this.hierarchies()).find((x) => x.spec.crlName === crlName);
    return h && this.crls.current(h.issuing.row.name, h.crlIssuer);
  }

  async status(serialHex: string): Promise<CertificateStatus> {
    const row = await this.deps.db.getRepository(SandboxCaIssuedEntity).findOneBy({ serialHex: canonicalSerial(serialHex) });
    if (!row) return { status: 'unknown' };
    if (row.status === 'revoked') return { status: 'revoked', revokedAt: row.revokedAt ?? undefined, reason: row.revocationReason ?? undefined };
    return { status: 'good' };
  }

  async trustAnchors(): Promise<{ roots: string[]; intermediates: string[] }> {
    const hierarchies = await this.hierarchies();
    return { roots: hierarchies.map((h) => h.root.cert.pem), intermediates: hierarchies.map((h) => h.issuing.cert.pem) };
  }
}
