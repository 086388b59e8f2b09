import { createHash, randomBytes } from 'node:crypto';
import { createSoftToken, importKeyAndCertificate } from '../../src/key-agent/soft-token-admin';
import { buildCsr } from '../../src/lib/pki/csr';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { generateSoftKeyPair, signWithSoftKey, type SoftKeyPair } from '../../src/lib/pki/soft-keys';
import { type CertificateSubject, type KeyAlgorithm, type ParsedCertificate } from '../../src/lib/pki/types';
import { type CertificateAuthority } from '../../src/providers/ca/types';
import { type Deps } from '../../src/deps';
import { inTransaction } from '../../src/lib/db/transaction';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate } from '../../src/modules/certificates/entities';
import { certificateServiceFor } from '../../src/modules/certificates/service';

/**
 * Real certificates for tests: a fresh key pair, a CSR signed by it, issued by a real CA (the app's built-in
 * CA, `deps.ca`), optionally put on a soft token the key agent serves. Shared by the /capc/, phone-binding and
 * legacy-binding tests.
 */
const DAY_MS = 86_400_000;

export const TEST_PROJECT = '梅州市住房公积金';

/** 统一社会信用代码 with a correct check digit (GB 32100-2015) for the 17 characters given. */
export function withCheckDigit(first17: string): string {
  const chars = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  const sum = [...first17].reduce((s, ch, i) => s + chars.indexOf(ch) * weights[i], 0);
  return first17 + chars[(31 - (sum % 31)) % 31];
}

/**
 * The default 统一社会信用代码: one per organisation name, so certificates of differently named test units are
 * different organisations (handler authorisation keys on the code), and the default name keeps the old code.
 */
export function creditCodeOf(organization?: string): string {
  if (!organization) return withCheckDigit('91441400MA4UTEST1');
  const chars = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const digest = createHash('sha256').update(organization).digest();
  return withCheckDigit(`914414${[...digest.subarray(0, 11)].map((b) => chars[b % 31]).join('')}`);
}

export interface IssueOptions {
  algorithm?: KeyAlgorithm;
  organization?: string;
  commonName?: string;
  /** 统一社会信用代码 (18 characters). */
  creditCode?: string;
  /** Goes into the subject OU (the CA puts it there). Default 梅州市住房公积金. */
  project?: string;
  /** 机构证书 / 个人证书 match config/projects.json; 机构员工证书 / 设备证书 match no rule (operator review). */
  certType?: string;
  notBefore?: Date;
  notAfter?: Date;
  mediaSerial?: string;
}

export interface IssuedFixture {
  key: SoftKeyPair;
  certificatePem: string;
  chainPem: string[];
  cert: ParsedCertificate;
}

/** Issues a certificate for a new soft key. Dates default to [now - 1 day, now + 1 year]. */
export async function issueCertificate(ca: CertificateAuthority, opts: IssueOptions = {}): Promise<IssuedFixture> {
  const algorithm = opts.algorithm ?? 'ECDSA-P256';
  const key = generateSoftKeyPair(algorithm);
  const subject: CertificateSubject = {
    commonName: opts.commonName ?? '梅州测试经办人',
    organization: opts.organization ?? '梅州市测试科技有限公司',
    creditCode: opts.creditCode ?? creditCodeOf(opts.organization),
    country: 'CN',
  };
  const csrPem = await buildCsr({ subject, spkiDer: key.spkiDer, sign: async (tbs) => signWithSoftKey(algorithm, key.privateKeyPkcs8Der, tbs) });
  const now = Date.now();
  const issued = await ca.issue({
    requestId: `test-${randomBytes(8).toString('hex')}`,
    csrPem,
    subject,
    profile: { project: opts.project ?? TEST_PROJECT, certType: opts.certType ?? '机构证书', usage: 'sign' },
    validity: { notBefore: opts.notBefore ?? new Date(now - DAY_MS), notAfter: opts.notAfter ?? new Date(now + 365 * DAY_MS) },
    mediaSerial: opts.mediaSerial,
  });
  return { key, certificatePem: issued.certificatePem, chainPem: issued.chainPem, cert: parseCertificate(issued.certificatePem) };
}

export interface SoftTokenFixture extends IssuedFixture {
  mediaSerial: string;
  pin: string;
  /** The certificate's id on the token (what `sign` takes). */
  certificateId: string;
}

/**
 * A soft token (in `dir`, the folder the key agent serves) holding a CA-issued certificate and its key,
 * as the issuing desk would hand a U-KEY to an organisation.
 */
export async function createTokenWithCertificate(
  ca: CertificateAuthority,
  opts: IssueOptions & { dir: string; pin?: string; mediaSerial?: string; label?: string },
): Promise<SoftTokenFixture> {
  const pin = opts.pin ?? '123456';
  const token = await createSoftToken({ dir: opts.dir, pin, mediaSerial: opts.mediaSerial, label: opts.label });
  const issued = await issueCertificate(ca, { ...opts, mediaSerial: token.mediaSerial });
  const { certificateId } = await importKeyAndCertificate({
    dir: opts.dir, mediaSerial: token.mediaSerial, pin, privateKeyPkcs8Der: issued.key.privateKeyPkcs8Der, certificatePem: issued.certificatePem,
  });
  return { ...issued, mediaSerial: token.mediaSerial, pin, certificateId };
}

/** Signs as the key agent's `sign` would (the convention of src/lib/pki/types.ts), base64. */
export function signBase64(key: SoftKeyPair, dataBase64: string): string {
  return Buffer.from(signWithSoftKey(key.algorithm, key.privateKeyPkcs8Der, Buffer.from(dataBase64, 'base64'))).toString('base64');
}

let mediaSeq = 0;
/** A 16-digit 介质编号 unique within the test run (process, sequence and time), for fixtures that need many. */
export function uniqueMediaSerial(prefix = '90'): string {
  return `${prefix}${String(process.pid % 1000).padStart(3, '0')}${String(++mediaSeq).padStart(5, '0')}${String(Date.now() % 1e6).padStart(6, '0')}`;
}

export interface KnownCertificateOptions extends IssueOptions {
  /** When it was presented (default now). */
  at?: Date;
}

/** A certificate the system knows: issued by the app's own CA and presented once at /capc/ (acceptPresented). */
export async function knownCertificate(deps: Deps, opts: KnownCertificateOptions = {}): Promise<Certificate> {
  const mediaSerial = opts.mediaSerial ?? uniqueMediaSerial();
  const issued = await issueCertificate(deps.ca, { ...opts, mediaSerial });
  return certificateServiceFor(deps).acceptPresented({ pem: issued.certificatePem, mediaSerial, at: opts.at ?? new Date() });
}

/** …and bound to `openid`, as the handler's phone would have done at /h5/bind. */
export async function boundCertificate(deps: Deps, openid: string, opts: KnownCertificateOptions & { sandbox?: boolean } = {}): Promise<Certificate> {
  const cert = await knownCertificate(deps, opts);
  const at = opts.at ?? new Date();
  await inTransaction(deps.db, (em) => new BindingRepository().bind(em, { certificateId: cert.id, openid, source: 'capc', sandbox: opts.sandbox ?? false }, at));
  return cert;
}
