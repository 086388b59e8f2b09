import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, BasicConstraints, Certificate, CertificatePolicies, KeyUsage, KeyUsageFlags, type Name, SubjectKeyIdentifier } from '@peculiar/asn1-x509';
import { readTlv, toHex } from './der';
import { nameToString, nameToSubject } from './names';
import { OID } from './oids';
import { describeSpki } from './signature';
import { type ParsedCertificate } from './types';

/** Parsed certificates keep a few facts the chain builder needs but callers do not. */
export interface CertificateInternals {
  tbs: Uint8Array;
  signature: Uint8Array;
  signatureAlgorithm: string;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  subjectKeyId?: string;
  authorityKeyId?: string;
  /** keyUsage flags, undefined when the extension is absent. */
  keyUsage?: number;
}
const internals = new WeakMap<ParsedCertificate, CertificateInternals>();
export function certificateInternals(cert: ParsedCertificate): CertificateInternals {
  const i = internals.get(cert);
  if (!i) throw new Error('certificate was not produced by parseCertificate');
  return i;
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** Every PEM block of a bundle, in order, each with its BEGIN/END lines; text between blocks is ignored. */
export function splitPemBundle(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)].map((m) => `${m[0]}\n`);
}

/** The DER inside a PEM block of the given label (whitespace-tolerant). */
export function pemToDer(pem: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`not a PEM ${label}`);
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

const KU_ENCRYPT = KeyUsageFlags.keyEncipherment | KeyUsageFlags.dataEncipherment | KeyUsageFlags.keyAgreement;

export function parseCertificate(pemOrDer: string | Uint8Array): ParsedCertificate {
  const der = typeof pemOrDer === 'string' ? pemToDer(pemOrDer, 'CERTIFICATE') : new Uint8Array(pemOrDer);
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (err) {
    throw new Error(`not an X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
  // Raw TBS and names, byte for byte: the signature and name matching are over the issued encoding.
  const outer = readTlv(der, 0);
  if (outer.end !== der.length) throw new Error('not an X.509 certificate: trailing bytes');
  const tbsTlv = readTlv(der, outer.contentStart);
  const tbs = der.subarray(tbsTlv.start, tbsTlv.end);
  const t = cert.tbsCertificate;
  const names = rawNames(tbs);

  let isCa = false;
  let keyUsage: number | undefined;
  let policyOids: string[] = [];
  let subjectKeyId: string | undefined;
  let authorityKeyId: string | undefined;
  for (const ext of t.extensions ?? []) {
    const value = ext.extnValue.buffer;
    if (ext.extnID === OID.basicConstraints) isCa = AsnConvert.parse(value, BasicConstraints).cA;
    else if (ext.extnID === OID.keyUsage) keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
    else if (ext.extnID === OID.certificatePolicies) policyOids = AsnConvert.parse(value, CertificatePolicies).map((p) => p.policyIdentifier);
    else if (ext.extnID === OID.subjectKeyIdentifier) subjectKeyId = toHex(new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer));
    else if (ext.extnID === OID.authorityKeyIdentifier) {
      const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
      if (aki.keyIdentifier) authorityKeyId = toHex(new Uint8Array(aki.keyIdentifier.buffer));
    }
  }

  const spkiDer = new Uint8Array(AsnConvert.serialize(t.subjectPublicKeyInfo));
  const key = describeSpki(spkiDer);
  // User certificates must carry a key we support; CA certificates may carry others (an RSA-4096 root), and
  // then `algorithm` names the family's closest member while keyDescription says what the key really is.
  if (!key.algorithm && !isCa) throw new Error(`certificate key ${key.description} is not supported (accepted: RSA-2048, ECDSA-P256, SM2)`);
  const algorithm = key.algorithm ?? (key.family === 'RSA' ? 'RSA-2048' : key.family === 'EC' ? 'ECDSA-P256' : 'SM2');
  const usage = keyUsage !== undefined && (keyUsage & KU_ENCRYPT) && !(keyUsage & KeyUsageFlags.digitalSignature) ? 'encrypt' : 'sign';

  const parsed: ParsedCertificate = {
    serialHex: toHex(new Uint8Array(t.serialNumber)),
    subjectDn: nameToString(t.subject),
    issuerDn: nameToString(t.issuer),
    subject: nameToSubject(t.subject),
    algorithm,
    keyDescription: key.description,
    usage,
    notBefore: t.validity.notBefore.getTime(),
    notAfter: t.validity.notAfter.getTime(),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    policyOids,
    isCa,
    der,
    pem: toPem(der, 'CERTIFICATE'),
    spkiDer,
  };
  internals.set(parsed, {
    tbs,
    signature: new Uint8Array(cert.signatureValue),
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    issuerDer: names.issuer,
    subjectDer: names.subject,
    subjectKeyId,
    authorityKeyId,
    keyUsage,
  });
  return parsed;
}

/** issuer and subject Name encodings inside the TBS (fields: [0] version?, serial, signature, issuer, validity, subject). */
function rawNames(tbs: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } {
  const outer = readTlv(tbs, 0);
  const fields: Array<{ start: number; end: number }> = [];
  for (let p = outer.contentStart; p < outer.end && fields.length < 7;) {
    const f = readTlv(tbs, p);
    fields.push(f);
    p = f.end;
  }
  const base = tbs[outer.contentStart] === 0xa0 ? 1 : 0;
  const slice = (i: number) => tbs.subarray(fields[base + i].start, fields[base + i].end);
  return { issuer: slice(2), subject: slice(4) };
}

export const nameDer = (name: Name): Uint8Array => new Uint8Array(AsnConvert.serialize(name));
