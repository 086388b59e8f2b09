import { toPem } from '../../../../src/lib/pki/certificate';
import { buildCrl, parseCrl, type CrlEntry } from '../../../../src/lib/pki/crl';
import { generateSoftKeyPair } from '../../../../src/lib/pki/soft-keys';
import { type KeyAlgorithm } from '../../../../src/lib/pki/types';
import { makeCa, makeLeaf, openssl, type TestCa } from '../../../helpers/pki';

const HOUR = 3_600_000;
const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - HOUR);
const nextUpdate = new Date(thisUpdate.getTime() + 7 * 24 * HOUR);

function crlOf(ca: TestCa, entries: CrlEntry[], crlNumber = 7) {
  return buildCrl({ issuer: { name: ca.name, spkiDer: ca.key.spkiDer, algorithm: ca.key.algorithm, privateKeyPkcs8Der: ca.key.privateKeyPkcs8Der }, crlNumber, thisUpdate, nextUpdate, entries });
}

describe.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256'])('a %s issuer\'s CRL', (algorithm) => {
  it('When OpenSSL checks the CRL and a leaf against it, then the CRL verifies, the revoked leaf is revoked (superseded) and the other one is OK', async () => {
    const ca = await makeCa(algorithm, `CRL CA ${algorithm}`);
    const revoked = await makeLeaf(ca, algorithm);
    const good = await makeLeaf(ca, algorithm);
    const der = await crlOf(ca, [{ serialHex: revoked.cert.serialHex, revokedAt: new Date(thisUpdate.getTime() - HOUR), reason: 'superseded' }]);
    const crlPem = toPem(der, 'X509 CRL');
    const caFile = { file: 'ca.pem', content: ca.cert.pem };

    const checked = await openssl(['crl', '-in', { file: 'crl.pem', content: crlPem }, '-noout', '-text', '-CAfile', caFile, '-verify']);
    expect(checked.out).toMatch(/verify OK/);
    expect(checked.out).toMatch(/X509v3 CRL Number:\s*\n\s*7/);
    expect(checked.out).toMatch(/Superseded/);
    expect(checked.out).toMatch(/X509v3 Authority Key Identifier/);

    const r1 = await openssl(['verify', '-crl_check', '-CRLfile', { file: 'crl.pem', content: crlPem }, '-CAfile', caFile, { file: 'revoked.pem', content: revoked.cert.pem }]);
    expect(r1.code).not.toBe(0);
    expect(r1.out).toMatch(/certificate revoked/);
    const r2 = await openssl(['verify', '-crl_check', '-CRLfile', { file: 'crl.pem', content: crlPem }, '-CAfile', caFile, { file: 'good.pem', content: good.cert.pem }]);
    expect(r2.out).toMatch(/good\.pem: OK/);
  });

  it('When the CRL is signed by another key than the CA\'s, then OpenSSL refuses it', async () => {
    const ca = await makeCa(algorithm, `CRL CA ${algorithm}`);
    const impostor = { ...ca, key: { ...generateSoftKeyPair(algorithm), spkiDer: ca.key.spkiDer } };
    const crlPem = toPem(await crlOf(impostor, []), 'X509 CRL');
    const r = await openssl(['crl', '-in', { file: 'crl.pem', content: crlPem }, '-noout', '-CAfile', { file: 'ca.pem', content: ca.cert.pem }, '-verify']);
    expect(r.out).toMatch(/verify failure/);
  });
});

describe('CRL contents in every algorithm', () => {
  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256', 'SM2'])('When a %s CRL is parsed back, then number, dates, serials and reasons are what was put in', async (algorithm) => {
    const ca = await makeCa(algorithm, `CRL CA ${algorithm}`);
    const entries: CrlEntry[] = [
      { serialHex: '80aa01', revokedAt: new Date(thisUpdate.getTime() - 2 * HOUR), reason: 'keyCompromise' },
      { serialHex: '1f', revokedAt: new Date(thisUpdate.getTime() - HOUR), reason: 'superseded' },
      { serialHex: '0102', revokedAt: thisUpdate, reason: 'unspecified' },
    ];
    const parsed = parseCrl(await crlOf(ca, entries, 42), ca.key.spkiDer);
    expect(parsed).toMatchObject({ crlNumber: 42, thisUpdate, nextUpdate, signatureValid: true, entries });
  });
});

describe('an SM2 issuer\'s CRL', () => {
  it('When our SM2 verifier checks it against the issuer key, then it verifies; a tampered CRL or another key fails', async () => {
    const ca = await makeCa('SM2', 'CRL CA SM2');
    const leaf = await makeLeaf(ca, 'SM2');
    const der = await crlOf(ca, [{ serialHex: leaf.cert.serialHex, revokedAt: thisUpdate, reason: 'superseded' }]);
    const canonical = leaf.cert.serialHex.replace(/^00(?=[89a-f])/, ''); // parseCertificate keeps DER's sign octet
    expect(parseCrl(der, ca.key.spkiDer)).toMatchObject({ signatureValid: true, entries: [{ serialHex: canonical, reason: 'superseded' }] });

    // OpenSSL reads the structure (it cannot check the signature with the standard ID in 3.0).
    const text = await openssl(['crl', '-inform', 'DER', '-in', { file: 'crl.der', content: der }, '-noout', '-text']);
    expect(text.out).toMatch(/SM2-with-SM3|sm2sign-with-sm3/i);
    expect(text.out).toMatch(/Superseded/);

    const tampered = new Uint8Array(der);
    const at = Buffer.from(tampered).indexOf(Buffer.from(leaf.cert.serialHex, 'hex'));
    expect(at).toBeGreaterThan(0);
    tampered[at] ^= 1; // another serial: un-revokes the certificate if nobody checks the signature
    expect(parseCrl(tampered, ca.key.spkiDer).signatureValid).toBe(false);
    expect(parseCrl(der, generateSoftKeyPair('SM2').spkiDer).signatureValid).toBe(false);
    expect(parseCrl(der, (await makeCa('RSA-2048', 'other')).key.spkiDer).signatureValid).toBe(false);
  });
});
