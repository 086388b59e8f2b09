import { AsnConvert } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { pemToDer, toPem } from './certificate';
import { children, concatBytes, encodeTlv, raw, readTlv } from './der';
import { nameToSubject, subjectToName } from './names';
import { algorithmOfSpki, signatureAlgorithmFor, verifySignature, verifySignedData } from './signature';
import { type CertificateSubject, type KeyAlgorithm } from './types';

export interface BuildCsrInput {
  subject: CertificateSubject;
  spkiDer: Uint8Array;
  /** Signs the CertificationRequestInfo in the convention of types.ts (a token or a soft key does this). */
  sign: (tbs: Uint8Array) => Promise<Uint8Array>;
}

/**
 * PKCS#10 request, PEM. The signature algorithm follows the key (sha256WithRSAEncryption, ecdsa-with-SHA256,
 * SM2-with-SM3). The signature is checked before the CSR is returned: a token that signed with another key
 * than the one it reported would otherwise only be noticed by the CA.
 */
export async function buildCsr(input: BuildCsrInput): Promise<string> {
  const algorithm = algorithmOfSpki(input.spkiDer);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: subjectToName(input.subject),
    subjectPKInfo: AsnConvert.parse(input.spkiDer, SubjectPublicKeyInfo),
    attributes: new Attributes(),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(info));
  const signature = await input.sign(tbs);
  if (!verifySignature(input.spkiDer, tbs, signature)) throw new Error(`CSR: the ${algorithm} signature does not verify with the given public key`);
  const algId = new Uint8Array(AsnConvert.serialize(signatureAlgorithmFor(algorithm)));
  // Assembled by hand so the signed bytes are exactly the ones in the request.
  const der = encodeTlv(0x30, concatBytes(tbs, algId, encodeTlv(0x03, concatBytes(new Uint8Array([0]), signature))));
  return toPem(der, 'CERTIFICATE REQUEST');
}

export interface ParsedCsr {
  subject: CertificateSubject;
  algorithm: KeyAlgorithm;
  spkiDer: Uint8Array;
  /** The self-signature checks out (SM2: with the default signer ID). */
  signatureValid: boolean;
}

/** Throws on something that is not a PKCS#10 request or on an unsupported key; a bad signature is reported, not thrown. */
export function parseCsr(pem: string): ParsedCsr {
  const der = pemToDer(pem.replace(/NEW CERTIFICATE REQUEST/g, 'CERTIFICATE REQUEST'), 'CERTIFICATE REQUEST');
  let req: CertificationRequest;
  try {
    req = AsnConvert.parse(der, CertificationRequest);
  } catch (err) {
    throw new Error(`not a PKCS#10 request: ${(err as Error).message}`, { cause: err });
  }
  const outer = readTlv(der, 0);
  if (outer.end !== der.length) throw new Error('not a PKCS#10 request: trailing bytes');
  const infoTlv = readTlv(der, outer.contentStart);
  const info = raw(der, infoTlv);
  const [, , spkiTlv] = children(der, infoTlv);
  const spkiDer = new Uint8Array(raw(der, spkiTlv));
  const algorithm = algorithmOfSpki(spkiDer);
  const signatureValid = verifySignedData(spkiDer, req.signatureAlgorithm.algorithm, info, new Uint8Array(req.signature));
  return { subject: nameToSubject(req.certificationRequestInfo.subject), algorithm, spkiDer, signatureValid };
}

