import { parseCertificate, splitPemBundle, toPem } from '../../../src/lib/pki/certificate';
import { verifyChain } from '../../../src/lib/pki/chain';
import { TrustStore } from '../../../src/lib/pki/trust-store';
import { KEY_ALGORITHMS } from '../../../src/lib/pki/types';
import { generateSoftKeyPair } from '../../../src/lib/pki/soft-keys';
import { buildCertificate } from '../../../src/lib/pki/x509-builder';
import { makeCa, makeLeaf } from '../../helpers/pki';

const DAY = 86_400_000;
const now = new Date();

describe.each(KEY_ALGORITHMS)('%s chains', (algorithm) => {
  it('When root → issuing CA → leaf are all good, then the chain verifies with the path leaf, issuing, root', async () => {
    const root = await makeCa(algorithm, 'Root');
    const issuing = await makeCa(algorithm, 'Issuing', { issuer: root });
    const { cert: leaf } = await makeLeaf(issuing, algorithm);
    const result = verifyChain(leaf, { roots: [root.cert], intermediates: [issuing.cert], at: now });
    expect(result.ok && result.path.map((c) => c.subject.commonName)).toEqual(['张三', 'Issuing', 'Root']);
  });

  it('When the root is not among the trusted roots, then the reason is untrusted', async () => {
    const root = await makeCa(algorithm, 'Root');
    const otherRoot = await makeCa(algorithm, 'Other Root');
    const issuing = await makeCa(algorithm, 'Issuing', { issuer: root });
    const { cert: leaf } = await makeLeaf(issuing, algorithm);
    expect(verifyChain(leaf, { roots: [otherRoot.cert], intermediates: [issuing.cert], at: now })).toEqual({ ok: false, reason: 'untrusted' });
    expect(verifyChain(leaf, { roots: [root.cert], intermediates: [], at: now })).toEqual({ ok: false, reason: 'untrusted' });
  });

  it('When a signature in the chain was tampered with, then the reason is bad-signature', async () => {
    const root = await makeCa(algorithm, 'Root');
    const { cert: leaf } = await makeLeaf(root, algorithm);
    const der = Buffer.from(leaf.der);
    der[der.length - 5] ^= 0x01; // inside the signature value
    const tampered = parseCertificate(der);
    expect(verifyChain(tampered, { roots: [root.cert], intermediates: [], at: now })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('When the issuing CA has expired, then the reason is ca-not-valid; an expired leaf alone still verifies', async () => {
    const root = await makeCa(algorithm, 'Root');
    const issuing = await makeCa(algorithm, 'Issuing', { issuer: root, notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const { cert: leaf } = await makeLeaf(issuing, algorithm);
    expect(verifyChain(leaf, { roots: [root.cert], intermediates: [issuing.cert], at: now })).toEqual({ ok: false, reason: 'ca-not-valid' });
    // The leaf's own dates are the caller's business: check the same leaf long after its expiry, CAs still valid.
    const goodIssuing = await makeCa(algorithm, 'Issuing 2', { issuer: root });
    const { cert: leaf2 } = await makeLeaf(goodIssuing, algorithm);
    expect(verifyChain(leaf2, { roots: [root.cert], intermediates: [goodIssuing.cert], at: new Date(now.getTime() + 60 * DAY) }).ok).toBe(true);
  });

  it('When the issuer is not a CA, then the reason is not-a-ca', async () => {
    const root = await makeCa(algorithm, 'Root');
    const notCa = await makeCa(algorithm, 'End entity', { issuer: root, isCa: false });
    const { cert: leaf } = await makeLeaf(notCa, algorithm);
    expect(verifyChain(leaf, { roots: [root.cert], intermediates: [notCa.cert], at: now })).toEqual({ ok: false, reason: 'not-a-ca' });
  });
});

it('When an RSA root issues an ECDSA CA and an SM2 CA signs an RSA leaf, then mixed chains verify', async () => {
  const root = await makeCa('RSA-2048', 'Root');
  const ec = await makeCa('ECDSA-P256', 'EC issuing', { issuer: root });
  const { cert: leaf } = await makeLeaf(ec, 'SM2');
  expect(verifyChain(leaf, { roots: [root.cert], intermediates: [ec.cert], at: now }).ok).toBe(true);
  const sm2Root = await makeCa('SM2', 'SM2 Root');
  const { cert: rsaLeaf } = await makeLeaf(sm2Root, 'RSA-2048');
  expect(verifyChain(rsaLeaf, { roots: [sm2Root.cert], intermediates: [], at: now }).ok).toBe(true);
});

it('When a certificate is parsed, then fields, usage, fingerprint and PEM helpers agree', async () => {
  const root = await makeCa('SM2', 'Root');
  const { cert } = await makeLeaf(root, 'SM2', { commonName: '张三', creditCode: '91441400MA4UABCD1X', country: 'CN' });
  expect(cert).toMatchObject({ algorithm: 'SM2', usage: 'sign', isCa: false, policyOids: ['1.3.6.1.4.1.59999.1.1'], subject: { commonName: '张三', creditCode: '91441400MA4UABCD1X' } });
  expect(cert.subjectDn).toBe('CN=张三, organizationIdentifier=91441400MA4UABCD1X, C=CN');
  expect(cert.serialHex).toMatch(/^[0-9a-f]+$/);
  expect(parseCertificate(cert.pem).fingerprintSha256).toBe(cert.fingerprintSha256);
  expect(splitPemBundle(`x\n${cert.pem}junk\n${root.cert.pem}`).map((p) => parseCertificate(p).fingerprintSha256)).toEqual([cert.fingerprintSha256, root.cert.fingerprintSha256]);
  expect(toPem(cert.der, 'CERTIFICATE')).toBe(cert.pem);
  const store = new TrustStore({ roots: [root.cert.pem] });
  expect(store.verify(cert, now).ok).toBe(true);
});

it('When keyUsage has keyEncipherment but not digitalSignature, then usage is encrypt', async () => {
  const root = await makeCa('SM2', 'Root');
  const key = generateSoftKeyPair('SM2');
  const der = await buildCertificate({
    serial: new Uint8Array([0x80, 1]), subject: { commonName: '加密证书' }, subjectSpkiDer: key.spkiDer,
    notBefore: now, notAfter: new Date(now.getTime() + DAY), issuer: root.signer, keyUsage: ['keyEncipherment', 'dataEncipherment', 'keyAgreement'],
  });
  const cert = parseCertificate(der);
  expect(cert.usage).toBe('encrypt');
  expect(cert.serialHex).toBe('008001'); // DER content bytes: the sign octet is kept
});
