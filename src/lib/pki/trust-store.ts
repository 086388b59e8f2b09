import { readFile } from 'node:fs/promises';
import { certificateInternals, parseCertificate, splitPemBundle } from './certificate';
import { verifyChain, type ChainResult } from './chain';
import { toHex } from './der';
import { verifySignedData } from './signature';
import { type ParsedCertificate } from './types';

/** The certificates presented certificates must chain to: roots (anchors) and intermediates (path building only). */
export class TrustStore {
  readonly roots: ParsedCertificate[] = [];
  readonly intermediates: ParsedCertificate[] = [];

  constructor(init: { roots?: string[]; intermediates?: string[] } = {}) {
    for (const pem of init.roots ?? []) this.addRoot(parseCertificate(pem));
    for (const pem of init.intermediates ?? []) this.addIntermediate(parseCertificate(pem));
  }

  addRoot(cert: ParsedCertificate): void {
    if (!this.has(cert)) this.roots.push(cert);
  }

  addIntermediate(cert: ParsedCertificate): void {
    if (!this.has(cert)) this.intermediates.push(cert);
  }

  /** Leaf validity dates are not checked (see verifyChain); `at` applies to the CA certificates. */
  verify(leaf: ParsedCertificate, at: Date): ChainResult {
    return verifyChain(leaf, { roots: this.roots, intermediates: this.intermediates, at });
  }

  private has(cert: ParsedCertificate): boolean {
    return [...this.roots, ...this.intermediates].some((c) => c.fingerprintSha256 === cert.fingerprintSha256);
  }
}

/** A CA certificate that signed itself: an anchor when found in a bundle. */
export function isSelfSignedCa(cert: ParsedCertificate): boolean {
  const i = certificateInternals(cert);
  return cert.isCa && toHex(i.subjectDer) === toHex(i.issuerDer) && verifySignedData(cert.spkiDer, i.signatureAlgorithm, i.tbs, i.signature);
}

/** Splits a PEM bundle: self-signed CA certificates are roots, everything else intermediates. */
export function classifyBundle(text: string, source: string): { roots: ParsedCertificate[]; intermediates: ParsedCertificate[] } {
  const roots: ParsedCertificate[] = [];
  const intermediates: ParsedCertificate[] = [];
  splitPemBundle(text).filter((b) => b.startsWith('-----BEGIN CERTIFICATE-----')).forEach((pem, index) => {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(pem);
    } catch (err) {
      throw new Error(`${source}: certificate #${index + 1}: ${(err as Error).message}`, { cause: err });
    }
    (isSelfSignedCa(cert) ? roots : intermediates).push(cert);
  });
  return { roots, intermediates };
}

/** PEM certificates a CA reports as its own trust anchors (CertificateAuthority.trustAnchors()). */
export interface TrustAnchors {
  roots: string[];
  intermediates: string[];
}

/**
 * The CA's own anchors plus those of CA_TRUSTED_ROOTS_FILE. A named file that is missing, unreadable or holds
 * no certificate stops the start: silently trusting nothing would refuse every user.
 */
export async function loadTrustStore(opts: { anchors: TrustAnchors; trustedRootsFile?: string }): Promise<TrustStore> {
  const store = new TrustStore(opts.anchors);
  if (opts.trustedRootsFile) {
    let text: string;
    try {
      text = await readFile(opts.trustedRootsFile, 'utf8');
    } catch (err) {
      throw new Error(`CA_TRUSTED_ROOTS_FILE: cannot read ${opts.trustedRootsFile}: ${(err as Error).message}`, { cause: err });
    }
    const { roots, intermediates } = classifyBundle(text, `CA_TRUSTED_ROOTS_FILE ${opts.trustedRootsFile}`);
    if (!roots.length && !intermediates.length) throw new Error(`CA_TRUSTED_ROOTS_FILE: ${opts.trustedRootsFile} holds no PEM certificate`);
    roots.forEach((c) => store.addRoot(c));
    intermediates.forEach((c) => store.addIntermediate(c));
  }
  return store;
}
