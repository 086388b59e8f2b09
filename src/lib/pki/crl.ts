// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata polyfill
// loaded first (installed with TypeORM, which needs it too).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier, CertificateList, CRLNumber, CRLReason, Extension, Extensions, KeyIdentifier, Name, RevokedCertificate, TBSCertList, Time, Version,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { concatBytes, encodeTlv, signedPart, toArrayBuffer, toHex } from './der';
import { OID } from './oids';
import { signatureAlgorithmFor, verifySignedData } from './signature';
import { createSoftSigner } from './soft-keys';
import { type KeyAlgorithm } from './types';
import { keyIdentifier } from './x509-builder';

/**
 * Certificate revocation lists (RFC 5280 §5, v2) for a CA whose key we hold in software (the built-in sandbox
 * CA). RSA and ECDSA issuers go through @peculiar/x509's CRL generator (WebCrypto); WebCrypto has no SM2, so an
 * SM2 issuer's CertificateList is built with @peculiar/asn1-x509, like our certificates, and signed with SM2/SM3
 * over Z computed with the default ID 1234567812345678 (GB/T 35276). Both carry the CRL number and the
 * authority key identifier; entries carry a reason code unless the reason is `unspecified` (RFC 5280 §5.3.1:
 * absent rather than unspecified).
 */
export type CrlReason = 'unspecified' | 'keyCompromise' | 'cACompromise' | 'affiliationChanged' | 'superseded' | 'cessationOfOperation' | 'certificateHold' | 'privilegeWithdrawn';

/** RFC 5280 CRLReason codes (7 is unused by the standard). */
export const CRL_REASON_CODES: Readonly<Record<CrlReason, number>> = {
  unspecified: 0, keyCompromise: 1, cACompromise: 2, affiliationChanged: 3, superseded: 4, cessationOfOperation: 5, certificateHold: 6, privilegeWithdrawn: 9,
};

export interface CrlEntry {
  /** Lower-case hex of the serial, without a sign octet (canonical, as the built-in CA stores it). */
  serialHex: string;
  revokedAt: Date;
  reason: CrlReason;
}

export interface CrlIssuer {
  /** The issuer's subject Name exactly as its certificate encodes it. */
  name: Name;
  spkiDer: Uint8Array;
  algorithm: KeyAlgorithm;
  privateKeyPkcs8Der: Uint8Array;
}

export interface BuildCrlInput {
  issuer: CrlIssuer;
  /** Monotonically increasing per issuer (RFC 5280 §5.2.3). */
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

/** The DER of the CRL. */
export async function buildCrl(input: BuildCrlInput): Promise<Uint8Array> {
  if (!(input.nextUpdate.getTime() > input.thisUpdate.getTime())) throw new Error('buildCrl: nextUpdate must be after thisUpdate');
  if (!Number.isSafeInteger(input.crlNumber) || input.crlNumber < 0) throw new Error('buildCrl: crlNumber must be a non-negative integer');
  const entries = [...input.entries].sort((a, b) => a.revokedAt.getTime() - b.revokedAt.getTime());
  return input.issuer.algorithm === 'SM2' ? buildAsn1Crl(input, entries) : buildWebCryptoCrl(input, entries);
}

const crlNumberDer = (n: number) => new Uint8Array(AsnConvert.serialize(new CRLNumber(n)));
const akiDer = (issuerSpki: Uint8Array) => new Uint8Array(AsnConvert.serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(toArrayBuffer(keyIdentifier(issuerSpki))) })));

async function buildWebCryptoCrl(input: BuildCrlInput, entries: CrlEntry[]): Promise<Uint8Array> {
  const { issuer } = input;
  const algorithm = issuer.algorithm === 'RSA-2048' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const signingKey = await webcrypto.subtle.importKey('pkcs8', toArrayBuffer(issuer.privateKeyPkcs8Der), algorithm, false, ['sign']);
  const crl = await x509.X509CrlGenerator.create({
    issuer: new x509.Name(toArrayBuffer(new Uint8Array(AsnConvert.serialize(issuer.name)))),
    thisUpdate: input.thisUpdate,
    nextUpdate: input.nextUpdate,
    signingAlgorithm: algorithm,
    signingKey: signingKey as unknown as CryptoKey,
    extensions: [
      new x509.Extension(OID.authorityKeyIdentifier, false, akiDer(issuer.spkiDer)),
      new x509.Extension(OID.crlNumber, false, crlNumberDer(input.crlNumber)),
    ],
    entries: entries.map((e) => ({ serialNumber: e.serialHex, revocationDate: e.revokedAt, reason: CRL_REASON_CODES[e.reason] as x509.X509CrlReason })),
  }, webcrypto as unknown as Crypto);
  return new Uint8Array(crl.rawData);
}

/** A serial as a positive DER INTEGER's content (a 00 octet when the top bit is set). */
function serialContent(serialHex: string): ArrayBuffer {
  let hex = serialHex.toLowerCase().replace(/^(00)+(?=..)/, '');
  if (hex.length % 2) hex = `0${hex}`;
  if (!/^[0-9a-f]+$/.test(hex)) throw new Error(`buildCrl: bad serial ${serialHex}`);
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return toArrayBuffer(new Uint8Array(Buffer.from(hex, 'hex')));
}

async function buildAsn1Crl(input: BuildCrlInput, entries: CrlEntry[]): Promise<Uint8Array> {
  const { issuer } = input;
  const ext = (extnID: string, value: Uint8Array) => new Extension({ extnID, critical: false, extnValue: new OctetString(toArrayBuffer(value)) });
  const sigAlg = signatureAlgorithmFor(issuer.algorithm);
  const tbsCertList = new TBSCertList({
    version: Version.v2,
    signature: sigAlg,
    issuer: issuer.name,
    thisUpdate: new Time(input.thisUpdate),
    nextUpdate: new Time(input.nextUpdate),
    crlExtensions: new Extensions([ext(OID.authorityKeyIdentifier, akiDer(issuer.spkiDer)), ext(OID.crlNumber, crlNumberDer(input.crlNumber))]),
  });
  if (entries.length) {
    tbsCertList.revokedCertificates = entries.map((e) => new RevokedCertificate({
      userCertificate: serialContent(e.serialHex),
      revocationDate: new Time(e.revokedAt),
      crlEntryExtensions: e.reason === 'unspecified' ? undefined : [ext(OID.crlReason, new Uint8Array(AsnConvert.serialize(new CRLReason(CRL_REASON_CODES[e.reason]))))],
    }));
  }
  const tbs = new Uint8Array(AsnConvert.serialize(tbsCertList));
  const signature = createSoftSigner(issuer.algorithm, issuer.privateKeyPkcs8Der)(tbs);
  const algId = new Uint8Array(AsnConvert.serialize(sigAlg));
  return encodeTlv(0x30, concatBytes(tbs, algId, encodeTlv(0x03, concatBytes(new Uint8Array([0]), signature))));
}

export interface ParsedCrl {
  issuerName: Name;
  crlNumber?: number;
  thisUpdate: Date;
  nextUpdate?: Date;
  entries: CrlEntry[];
  /** The signature checks out against the given issuer key (SM2 with the default ID), the algorithm fits the key. */
  signatureValid: boolean;
}

const REASON_BY_CODE = new Map(Object.entries(CRL_REASON_CODES).map(([k, v]) => [v, k as CrlReason]));

/**
 * Reads a CRL and checks its signature with the issuer's public key: what OpenSSL 3.0 cannot do for an SM2
 * CRL signed with the standard ID (`openssl crl` has no -vfyopt). Throws only on a structure that is not a CRL.
 */
export function parseCrl(der: Uint8Array, issuerSpkiDer: Uint8Array): ParsedCrl {
  const list = AsnConvert.parse(der, CertificateList);
  const tbs = list.tbsCertList;
  const sigOid = list.signatureAlgorithm.algorithm;
  const signatureValid = sigOid === tbs.signature.algorithm && verifySignedData(issuerSpkiDer, sigOid, signedPart(der), new Uint8Array(list.signature));
  const number = tbs.crlExtensions?.find((e) => e.extnID === OID.crlNumber);
  return {
    issuerName: tbs.issuer,
    crlNumber: number ? AsnConvert.parse(number.extnValue, CRLNumber).value : undefined,
    thisUpdate: tbs.thisUpdate.getTime(),
    nextUpdate: tbs.nextUpdate?.getTime(),
    entries: (tbs.revokedCertificates ?? []).map((r) => {
      const reasonExt = r.crlEntryExtensions?.find((e) => e.extnID === OID.crlReason);
      const code = reasonExt ? AsnConvert.parse(reasonExt.extnValue, CRLReason).reason : 0;
      return { serialHex: toHex(new Uint8Array(r.userCertificate)).replace(/^(00)+(?=..)/, ''), revokedAt: r.revocationDate.getTime(), reason: REASON_BY_CODE.get(code) ?? 'unspecified' };
    }),
    signatureValid,
  };
}
