import { KeyUsageFlags } from '@peculiar/asn1-x509';
import { certificateInternals } from './certificate';
import { toHex } from './der';
import { verifySignedData } from './signature';
import { type ParsedCertificate } from './types';

export type ChainFailure = 'untrusted' | 'bad-signature' | 'ca-not-valid' | 'not-a-ca';
export type ChainResult = { ok: true; path: ParsedCertificate[] } | { ok: false; reason: ChainFailure };

export interface ChainOptions {
  roots: ParsedCertificate[];
  intermediates: ParsedCertificate[];
  at: Date;
}

/** Deep enough for root → policy CA → issuing CA → leaf and then some; bounds the search on odd bundles. */
const MAX_DEPTH = 6;
/** When several paths fail, the reason reported is the most specific one met. */
const SEVERITY: Record<ChainFailure, number> = { untrusted: 0, 'not-a-ca': 1, 'ca-not-valid': 2, 'bad-signature': 3 };

/**
 * Builds a path from `leaf` to one of `roots` through `intermediates` and checks it: every issuer's signature
 * (RSA PKCS#1 v1.5 SHA-256/384/512, ECDSA SHA-256/384, SM2-SM3 with the default ID), every CA certificate
 * (intermediates and the root) valid at `at`, with basicConstraints CA=true and keyCertSign when keyUsage is
 * present. The leaf's own dates are deliberately not checked: the caller accepts recently expired leaves.
 * Not checked: name constraints, policy constraints, pathLen, revocation (the caller asks the CA for status).
 */
export function verifyChain(leaf: ParsedCertificate, opts: ChainOptions): ChainResult {
  const at = opts.at.getTime();
  const rootSet = new Set(opts.roots.map((r) => r.fingerprintSha256));
  const pool = dedupe([...opts.roots, ...opts.intermediates]);
  if (rootSet.has(leaf.fingerprintSha256)) return { ok: true, path: [leaf] };

  let worst: ChainFailure = 'untrusted';
  const fail = (r: ChainFailure) => {
    if (SEVERITY[r] > SEVERITY[worst]) worst = r;
  };

  const walk = (path: ParsedCertificate[]): ParsedCertificate[] | undefined => {
    const current = path[path.length - 1];
    const cur = certificateInternals(current);
    for (const candidate of pool) {
      if (path.some((p) => p.fingerprintSha256 === candidate.fingerprintSha256)) continue;
      const cand = certificateInternals(candidate);
      if (!sameName(cand.subjectDer, cur.issuerDer, candidate.subjectDn, current.issuerDn)) continue;
      // Two CA certificates may share a name across a key rollover: the key identifiers tell them apart.
      if (cur.authorityKeyId && cand.subjectKeyId && cur.authorityKeyId !== cand.subjectKeyId) continue;
      if (!verifySignedData(candidate.spkiDer, cur.signatureAlgorithm, cur.tbs, cur.signature)) {
        fail('bad-signature');
        continue;
      }
      if (!candidate.isCa || (cand.keyUsage !== undefined && !(cand.keyUsage & KeyUsageFlags.keyCertSign))) {
        fail('not-a-ca');
        continue;
      }
      if (candidate.notBefore.getTime() > at || candidate.notAfter.getTime() < at) {
        fail('ca-not-valid');
        continue;
      }
      const next = [...path, candidate];
      if (rootSet.has(candidate.fingerprintSha256)) return next;
      if (next.length <= MAX_DEPTH) {
        const found = walk(next);
        if (found) return found;
      }
    }
    return undefined;
  };

  const path = walk([leaf]);
  return path ? { ok: true, path } : { ok: false, reason: worst };
}

function sameName(a: Uint8Array, b: Uint8Array, aText: string, bText: string): boolean {
  // Byte equality is the common case; the string form catches the same name written with another string type.
  return toHex(a) === toHex(b) || aText === bText;
}

function dedupe(certs: ParsedCertificate[]): ParsedCertificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => !seen.has(c.fingerprintSha256) && seen.add(c.fingerprintSha256));
}
