import { parseCertificate } from '../../src/lib/pki/certificate';
import { TrustStore } from '../../src/lib/pki/trust-store';
import { type KeyAlgorithm, SM2_DEFAULT_USER_ID } from '../../src/lib/pki/types';
import { SandboxCaAuthorityEntity } from '../../src/providers/ca/entities';
import { decryptPrivateKey, parseKeyEncryptionKey } from '../../src/providers/ca/key-protection';
import { BuiltInCa } from '../../src/providers/ca/sandbox';
import { CaError } from '../../src/providers/ca/types';
import { createTestBackend, startInstance } from '../helpers/harness';
import { makeIssueRequest, openssl } from '../helpers/pki';
import { useTestApp } from '../helpers/use-test-app';

describe('the built-in sandbox CA', () => {
  const t = useTestApp({ startJobs: false });

  it.each<[KeyAlgorithm, string]>([['RSA-2048', 'RSA'], ['ECDSA-P256', 'RSA'], ['SM2', 'SM2']])(
    'When a %s leaf is issued, then `openssl verify` accepts it against the %s root and issuing CA',
    async (algorithm, family) => {
      const { request } = await makeIssueRequest(algorithm);
      const issued = await t.instance.deps.ca.issue(request);
      const anchors = await t.instance.deps.ca.trustAnchors();
      const root = anchors.roots.find((p) => parseCertificate(p).subject.commonName!.includes(`(${family})`))!;
      if (algorithm !== 'SM2') {
        const r = await openssl(['verify', '-CAfile', { file: 'root.pem', content: root }, '-untrusted', { file: 'issuing.pem', content: issued.chainPem.join('') },
          { file: 'leaf.pem', content: issued.certificatePem }]);
        expect(r.out).toMatch(/leaf\.pem: OK/);
      } else {
        // OpenSSL 3 applies -vfyopt distid to the target certificate only and checks the issuing CA's signature
        // with an empty ID (openssl/openssl#23471), so a 3-level SM2 chain fails in one call whatever its
        // signatures. Each link is checked with the default ID instead: issuing CA by the root, leaf by the issuing CA.
        const vfy = ['-vfyopt', `distid:${SM2_DEFAULT_USER_ID}`];
        const link1 = await openssl(['verify', ...vfy, '-CAfile', { file: 'root.pem', content: root }, { file: 'issuing.pem', content: issued.chainPem[0] }]);
        expect(link1.out).toMatch(/issuing\.pem: OK/);
        const link2 = await openssl(['verify', ...vfy, '-partial_chain', '-CAfile', { file: 'issuing.pem', content: issued.chainPem[0] }, { file: 'leaf.pem', content: issued.certificatePem }]);
        expect(link2.out).toMatch(/leaf\.pem: OK/);
      }
      const store = new TrustStore(anchors);
      expect(store.verify(parseCertificate(issued.certificatePem), new Date()).ok).toBe(true);

      const cert = parseCertificate(issued.certificatePem);
      expect(cert).toMatchObject({
        algorithm, usage: 'sign', isCa: false, serialHex: issued.serialHex, policyOids: ['1.3.6.1.4.1.59999.1.1'],
        subject: { commonName: '梅州市某某建筑工程有限公司', organizationalUnit: '梅州市住房公积金', creditCode: '91441400MA4UABCD1X' },
      });
      expect(issued.serialHex).toMatch(/^[1-7][0-9a-f]{31}$|^0[1-9a-f][0-9a-f]{30}$/);
      expect(cert.notAfter.getTime()).toBe(Math.floor(request.validity.notAfter.getTime() / 1000) * 1000);
    },
  );

  it('When the same requestId is issued twice, then one certificate exists and the same one is returned', async () => {
    const { request } = await makeIssueRequest('SM2');
    const [a, b] = await Promise.all([t.instance.deps.ca.issue(request), t.instance.deps.ca.issue(request)]);
    const c = await t.instance.deps.ca.issue(request);
    expect(b.certificatePem).toBe(a.certificatePem);
    expect(c.certificatePem).toBe(a.certificatePem);
    const rows = await t.instance.deps.db.query('SELECT COUNT(*) AS n FROM sandbox_ca_issued WHERE request_id = ?', [request.requestId]);
    expect(Number(rows[0].n)).toBe(1);
    const other = await makeIssueRequest('SM2', { requestId: request.requestId });
    await expect(t.instance.deps.ca.issue(other.request)).rejects.toMatchObject({ code: 'request-conflict' });
  });

  it('When the CSR signature is bad or the certificate type unknown, then issue refuses with a clear CaError', async () => {
    const { request } = await makeIssueRequest('SM2');
    const pem = request.csrPem;
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3] ^= 1;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const err = await t.instance.deps.ca.issue({ ...request, csrPem: tampered }).catch((e) => e);
    expect(err).toBeInstanceOf(CaError);
    expect(err).toMatchObject({ code: 'bad-csr', message: expect.stringMatching(/SM2 signature does not verify.*1234567812345678/) });
    await expect(t.instance.deps.ca.issue({ ...request, profile: { ...request.profile, certType: '不存在' } })).rejects.toMatchObject({ code: 'invalid-request' });
  });

  it('When a certificate is revoked, then its status is revoked with the reason; unknown serials say unknown', async () => {
    const { request } = await makeIssueRequest('RSA-2048');
    const issued = await t.instance.deps.ca.issue(request);
    expect(await t.instance.deps.ca.status(issued.serialHex)).toEqual({ status: 'good' });
    await t.instance.deps.ca.revoke(issued.serialHex.toUpperCase(), 'keyCompromise');
    await t.instance.deps.ca.revoke(issued.serialHex, 'superseded'); // idempotent: the first reason stays
    expect(await t.instance.deps.ca.status(`00${issued.serialHex}`)).toMatchObject({ status: 'revoked', reason: 'keyCompromise', revokedAt: expect.any(Date) });
    expect(await t.instance.deps.ca.status('7fffffff')).toEqual({ status: 'unknown' });
    await expect(t.instance.deps.ca.revoke('7fffffff', 'unspecified')).rejects.toMatchObject({ code: 'unknown-serial' });
  });

  it('When the CA keys are read from the database, then they are AES-GCM ciphertext bound to the authority name', async () => {
    const rows = await t.instance.deps.db.getRepository(SandboxCaAuthorityEntity).find();
    expect(rows.map((r) => r.name).sort()).toEqual([
      '数安 Sandbox Issuing CA (RSA)', '数安 Sandbox Issuing CA (SM2)', '数安 Sandbox Root CA (RSA)', '数安 Sandbox Root CA (SM2)',
    ]);
    const kek = parseKeyEncryptionKey(t.instance.config.ca.keyEncryptionKey);
    for (const row of rows) {
      const pkcs8 = Buffer.from(decryptPrivateKey(kek, row.name, row.encryptedKey));
      expect(row.encryptedKey).toMatch(/^v1\.[A-Za-z0-9+/=]+$/);
      for (const plain of [pkcs8.toString('base64'), pkcs8.toString('hex'), pkcs8.subarray(-32).toString('base64')]) expect(row.encryptedKey).not.toContain(plain);
      expect(row.encryptedKey).not.toMatch(/PRIVATE KEY/);
      const other = rows.find((r) => r.name !== row.name)!;
      expect(() => decryptPrivateKey(kek, other.name, row.encryptedKey)).toThrow(/cannot decrypt/);
    }
  });

  it('When the app restarts, or two instances start at once on a fresh database, then there is one hierarchy', async () => {
    const fingerprints = async (i: { deps: { ca: { trustAnchors(): Promise<{ roots: string[] }> } } }) =>
      (await i.deps.ca.trustAnchors()).roots.map((p) => parseCertificate(p).fingerprintSha256);
    const before = await fingerprints(t.instance);
    const again = await startInstance(t.handle, { startJobs: false });
    try {
      expect(await fingerprints(again)).toEqual(before);
    } finally {
      await again.close();
    }

    const fresh = await createTestBackend();
    try {
      const [x, y] = await Promise.all([startInstance(fresh, { startJobs: false }), startInstance(fresh, { startJobs: false })]);
      try {
        expect(await fingerprints(x)).toEqual(await fingerprints(y));
        const n = await x.deps.db.query('SELECT COUNT(*) AS n FROM sandbox_ca_authorities');
        expect(Number(n[0].n)).toBe(4);
      } finally {
        await x.close();
        await y.close();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('When the key encryption key is wrong, then the CA refuses to start with a message naming the setting', async () => {
    const ca = new BuiltInCa({ db: t.instance.deps.db, clock: t.instance.deps.clock, logger: t.instance.deps.logger, keyEncryptionKey: Buffer.alloc(32, 7).toString('base64') });
    await expect(ca.ensure()).rejects.toThrow(/CA_KEY_ENCRYPTION_KEY/);
  });
});
