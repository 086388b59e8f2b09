import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CRLDistributionPoints, DistributionPoint, DistributionPointName, ExtendedKeyUsage, GeneralName, Extension, Extensions, KeyIdentifier,
  KeyUsage, KeyUsageFlags, type KeyUsageType, type Name, PolicyInformation, SubjectKeyIdentifier, SubjectPublicKeyInfo, TBSCertificate,
  Validity, Version,
} from '@peculiar/asn1-x509';
import { concatBytes, encodeTlv, toArrayBuffer } from './der';
import { subjectToName } from './names';
import { OID } from './oids';
import { algorithmOfSpki, signatureAlgorithmFor, verifySignature } from './signature';
import { type CertificateSubject, type KeyAlgorithm } from './types';

/**
 * Builds and signs X.509 v3 certificates for any subject key with any issuer key, SM2 included: the
 * TBSCertificate is built with @peculiar/asn1-x509 and signed by the caller's function (a soft key, or
 * anything else that signs in the convention of types.ts). @peculiar/x509's WebCrypto path cannot sign SM2.
 */
export interface CertificateSigner {
  /** The issuer's subject Name (for a self-signed certificate: the subject's own). */
  name: Name;
  spkiDer: Uint8Array;
  algorithm: KeyAlgorithm;
  sign(tbs: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface BuildCertificateInput {
  /** Positive serial, big-endian (RFC 5280: at most 20 octets). */
  serial: Uint8Array;
  subject: CertificateSubject | Name;
  subjectSpkiDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** Omitted: self-signed, `selfSign` signs. */
  issuer?: CertificateSigner;
  selfSign?: (tbs: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** A CA certificate (basicConstraints CA=true, optional pathLen); otherwise an end-entity certificate. */
  ca?: { pathLen?: number };
  keyUsage: KeyUsageType[];
  policyOids?: string[];
  /** Leaves: e.g. [OID.kpClientAuth, OID.kpEmailProtection]. */
  extendedKeyUsage?: string[];
  /** URLs where the issuer publishes the CRL that would list this certificate (RFC 5280 §4.2.1.13). */
  crlDistributionPoints?: string[];
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spkiDer: Uint8Array): Uint8Array {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  return new Uint8Array(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
}

const FLAG: Record<KeyUsageType, number> = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  nonRepudiation: KeyUsageFlags.nonRepudiation,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  dataEncipherment: KeyUsageFlags.dataEncipherment,
  keyAgreement: KeyUsageFlags.keyAgreement,
  keyCertSign: KeyUsageFlags.keyCertSign,
  crlSign: KeyUsageFlags.cRLSign,
  encipherOnly: KeyUsageFlags.encipherOnly,
  decipherOnly: KeyUsageFlags.decipherOnly,
};

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** Positive and minimal: strips leading zero octets, then adds one back when the top bit is set. */
function serialContent(serial: Uint8Array): ArrayBuffer {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  let body = serial.subarray(i);
  if (!body.length || (body.length === 1 && body[0] === 0)) throw new Error('certificate serial must be positive');
  if (body[0] & 0x80) body = concatBytes(new Uint8Array([0]), body);
  if (body.length > 20) throw new Error('certificate serial longer than 20 octets');
  return toArrayBuffer(body);
}

/**
 * Returns the certificate, DER. The signature is checked against the issuer key before it is returned, unless
 * `verify: false`: for a signer already matched to its certificate (the CA at start), the check would double
 * the cost of an SM2 issuance.
 */
export async function buildCertificate(input: BuildCertificateInput, opts: { verify?: boolean } = {}): Promise<Uint8Array> {
  if (!input.issuer && !input.selfSign) throw new Error('buildCertificate: give an issuer or selfSign');
  if (input.notAfter.getTime() <= input.notBefore.getTime()) throw new Error('buildCertificate: notAfter must be after notBefore');
  const subjectName = 'length' in input.subject ? input.subject : subjectToName(input.subject);
  const issuer: CertificateSigner = input.issuer ?? {
    name: subjectName,
    spkiDer: input.subjectSpkiDer,
    algorithm: algorithmOfSpki(input.subjectSpkiDer),
    sign: input.selfSign!,
  };

  const exts: Extension[] = [
    extension(OID.basicConstraints, true, new BasicConstraints(input.ca ? { cA: true, pathLenConstraint: input.ca.pathLen } : {})),
    extension(OID.keyUsage, true, new KeyUsage(input.keyUsage.reduce((f, k) => f | FLAG[k], 0))),
  ];
  if (input.extendedKeyUsage?.length) exts.push(extension(OID.extKeyUsage, false, new ExtendedKeyUsage(input.extendedKeyUsage)));
  exts.push(extension(OID.subjectKeyIdentifier, false, new SubjectKeyIdentifier(toArrayBuffer(keyIdentifier(input.subjectSpkiDer)))));
  exts.push(extension(OID.authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(toArrayBuffer(keyIdentifier(issuer.spkiDer))) })));
  if (input.crlDistributionPoints?.length) {
    const points = input.crlDistributionPoints.map((uri) => new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: uri })] }) }));
    exts.push(extension(OID.crlDistributionPoints, false, new CRLDistributionPoints(points)));
  }
  if (input.policyOids?.length) {
    exts.push(extension(OID.certificatePolicies, false, new CertificatePolicies(input.policyOids.map((policyIdentifier) => new PolicyInformation({ policyIdentifier })))));
  }

  const sigAlg = signatureAlgorithmFor(issuer.algorithm);
  const tbsCert = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialContent(input.serial),
    signature: sigAlg,
    issuer: issuer.name,
    validity: new Validity({ notBefore: input.notBefore, notAfter: input.notAfter }),
    subject: subjectName,
    subjectPublicKeyInfo: AsnConvert.parse(input.subjectSpkiDer, SubjectPublicKeyInfo),
    extensions: new Extensions(exts),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(tbsCert));
  const signature = await issuer.sign(tbs);
  // A signer that used another key than the one it names would produce certificates nobody can verify.
  if (opts.verify !== false && !verifySignature(issuer.spkiDer, tbs, signature)) throw new Error(`issuer ${issuer.algorithm} signature does not verify with the issuer's public key`);
  const algId = new Uint8Array(AsnConvert.serialize(sigAlg));
  return encodeTlv(0x30, concatBytes(tbs, algId, encodeTlv(0x03, concatBytes(new Uint8Array([0]), signature))));
}
