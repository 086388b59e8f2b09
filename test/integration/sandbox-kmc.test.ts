import { randomUUID } from 'node:crypto';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { toHex } from '../../src/lib/pki/der';
import { decodeSm2Pkcs8, decodeSm2Spki } from '../../src/lib/pki/sm2';
import { openSm2EnvelopedKey, sm2Decrypt, sm2Encrypt } from '../../src/lib/pki/sm2-envelope';
import { SandboxKmcKeyEntity } from '../../src/providers/ca/entities';
import { decryptPrivateKey, parseKeyEncryptionKey } from '../../src/providers/ca/key-protection';
import { type IssueRequest } from '../../src/providers/ca/types';
import { makeIssueRequest, openssl } from '../helpers/pki';
import { useTestApp } from '../helpers/use-test-app';

/** A fresh SM2 signing key and CSR asking for a dual pair under `keyRequestId`. */
async function dualRequest(keyRequestId: string, overrides: Partial<IssueRequest> = {}) {
  const { key, request } = await makeIssueRequest('SM2', { encryptionKey: { requestId: keyRequestId }, ...overrides });
  return { signingPrivateKey: decodeSm2Pkcs8(key.privateKeyPkcs8Der).privateKey, request };
}
const envelopeOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('the built-in CA\'s KMC (SM2 dual certificates)', () => {
  const t = useTestApp({ startJobs: false });
  const ca = () => t.instance.deps.ca;

  it('When an SM2 signing CSR asks for an encryption pair, then the envelope opens with the signing key and decrypts what OpenSSL encrypts to the encryption certificate', async () => {
    const { signingPrivateKey, request } = await dualRequest(randomUUID());
    const issued = await ca().issue(request);
    expect(issued.encryptionPair).toBeDefined();
    const encCert = parseCertificate(issued.encryptionPair!.certificatePem);
    expect(encCert).toMatchObject({ algorithm: 'SM2', usage: 'encrypt', subject: { commonName: '梅州市某某建筑工程有限公司', organizationalUnit: '梅州市住房公积金' } });
    expect(encCert.serialHex).not.toBe(issued.serialHex);
    const text = await openssl(['x509', '-in', { file: 'enc.pem', content: encCert.pem }, '-noout', '-ext', 'keyUsage,crlDistributionPoints']);
    expect(text.out).toMatch(/Key Encipherment, Data Encipherment/);
    expect(text.out).toContain('/crl/sandbox-sm2.crl');
    expect(await ca().status(encCert.serialHex)).toEqual({ status: 'good' });

    const encryptionKey = openSm2EnvelopedKey(envelopeOf(issued.encryptionPair!.envelopedKeyBase64), signingPrivateKey);
    expect(toHex(encryptionKey.publicKey)).toBe(toHex(decodeSm2Spki(encCert.spkiDer)));
    // Someone who only has the certificate encrypts to it (OpenSSL, SM2Cipher); the opened key reads it.
    const message = Buffer.from('给持证人的加密文件');
    const enc = await openssl(['pkeyutl', '-encrypt', '-certin', '-inkey', { file: 'enc.pem', content: encCert.pem }, '-in', { file: 'm.txt', content: message }, '-out', { output: 'c.der' }]);
    expect(enc.code).toBe(0);
    expect(Buffer.from(sm2Decrypt(encryptionKey.privateKey, enc.output!)).toString()).toBe('给持证人的加密文件');
    const stranger = (await dualRequest('x')).signingPrivateKey;
    expect(() => openSm2EnvelopedKey(envelopeOf(issued.encryptionPair!.envelopedKeyBase64), stranger)).toThrow(/SM2 decryption failed/);
  });

  it('When the same request is retried (at once and later), then the same certificates and the same envelope come back, and one key is archived', async () => {
    const keyRequestId = randomUUID();
    const { request } = await dualRequest(keyRequestId);
    const [a, b] = await Promise.all([ca().issue(request), ca().issue(request)]);
    const c = await ca().issue(request);
    for (const x of [b, c]) {
      expect(x.certificatePem).toBe(a.certificatePem);
      expect(x.encryptionPair).toEqual(a.encryptionPair);
    }
    expect(await t.instance.deps.db.getRepository(SandboxKmcKeyEntity).countBy({ keyRequestId })).toBe(1);
    const rows = await t.instance.deps.db.query('SELECT COUNT(*) AS n FROM sandbox_ca_issued WHERE request_id = ?', [`kmc:${keyRequestId}`]);
    expect(Number(rows[0].n)).toBe(1);
  });

  it('When a new signing key (a new CSR) asks under the same key id, then the archived encryption key is re-wrapped to it: same encryption certificate, only the new signing key opens it', async () => {
    const keyRequestId = randomUUID();
    const first = await dualRequest(keyRequestId);
    const a = await ca().issue(first.request);
    const second = await dualRequest(keyRequestId);
    const b = await ca().issue(second.request);
    expect(b.serialHex).not.toBe(a.serialHex);
    expect(b.encryptionPair!.certificatePem).toBe(a.encryptionPair!.certificatePem);
    expect(b.encryptionPair!.envelopedKeyBase64).not.toBe(a.encryptionPair!.envelopedKeyBase64);
    const fromA = openSm2EnvelopedKey(envelopeOf(a.encryptionPair!.envelopedKeyBase64), first.signingPrivateKey);
    const fromB = openSm2EnvelopedKey(envelopeOf(b.encryptionPair!.envelopedKeyBase64), second.signingPrivateKey);
    expect(toHex(fromB.privateKey)).toBe(toHex(fromA.privateKey));
    expect(() => openSm2EnvelopedKey(envelopeOf(b.encryptionPair!.envelopedKeyBase64), first.signingPrivateKey)).toThrow(/SM2 decryption failed/);
    const secret = sm2Encrypt(fromA.publicKey, new Uint8Array(Buffer.from('old data stays readable')));
    expect(Buffer.from(sm2Decrypt(fromB.privateKey, secret)).toString()).toBe('old data stays readable');
  });

  it('When the archive is read from the database, then the encryption key is AES-GCM ciphertext bound to its key id, and it decrypts to the delivered key', async () => {
    const keyRequestId = randomUUID();
    const { signingPrivateKey, request } = await dualRequest(keyRequestId);
    const issued = await ca().issue(request);
    const delivered = openSm2EnvelopedKey(envelopeOf(issued.encryptionPair!.envelopedKeyBase64), signingPrivateKey);
    const row = await t.instance.deps.db.getRepository(SandboxKmcKeyEntity).findOneByOrFail({ keyRequestId });
    expect(row.encryptedPrivateKey).toMatch(/^v1\.[A-Za-z0-9+/=]+$/);
    expect(row.encryptedPrivateKey).not.toContain(Buffer.from(delivered.privateKey).toString('base64'));
    const kek = parseKeyEncryptionKey(t.instance.config.ca.keyEncryptionKey);
    expect(toHex(decodeSm2Pkcs8(decryptPrivateKey(kek, `kmc:${keyRequestId}`, row.encryptedPrivateKey)).privateKey)).toBe(toHex(delivered.privateKey));
    expect(() => decryptPrivateKey(kek, 'kmc:another', row.encryptedPrivateKey)).toThrow(/cannot decrypt/);
  });

  it('When an RSA CSR or an encryption-usage request asks for an encryption pair, then invalid-request', async () => {
    const rsa = await makeIssueRequest('RSA-2048', { encryptionKey: { requestId: randomUUID() } });
    await expect(ca().issue(rsa.request)).rejects.toMatchObject({ code: 'invalid-request' });
    const { request } = await dualRequest(randomUUID());
    await expect(ca().issue({ ...request, profile: { ...request.profile, usage: 'encrypt' } })).rejects.toMatchObject({ code: 'invalid-request' });
  });
});
