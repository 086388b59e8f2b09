import request from 'supertest';
import { parseCertificate, toPem } from '../../src/lib/pki/certificate';
import { parseCrl } from '../../src/lib/pki/crl';
import { type KeyAlgorithm } from '../../src/lib/pki/types';
import { crlRoutes } from '../../src/modules/crl/routes';
import { type BuiltInCa } from '../../src/providers/ca/sandbox';
import { CRL_REFRESH_AFTER_MS } from '../../src/providers/ca/sandbox-crl';
import { TestClock } from '../helpers/harness';
import { makeIssueRequest, openssl } from '../helpers/pki';
import { useTestApp } from '../helpers/use-test-app';

const clock = new TestClock();

async function fetchCrl(t: ReturnType<typeof useTestApp>, name: string) {
  const res = await request(t.instance.app.callback()).get(`/crl/${name}.crl`).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  return res;
}

describe('CRLs of the built-in sandbox CA', () => {
  const t = useTestApp({ startJobs: false, clock });
  const ca = () => t.instance.deps.ca as BuiltInCa;
  const issue = async (algorithm: KeyAlgorithm) => ca().issue((await makeIssueRequest(algorithm)).request);

  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256'])(
    'When a %s certificate is revoked as superseded, then /crl/sandbox-rsa.crl lists it and OpenSSL verifies the CRL and sees the certificate revoked',
    async (algorithm) => {
      const revoked = await issue(algorithm);
      const good = await issue(algorithm);
      const dp = await openssl(['x509', '-in', { file: 'leaf.pem', content: revoked.certificatePem }, '-noout', '-ext', 'crlDistributionPoints']);
      expect(dp.out).toContain(`URI:${t.instance.config.publicBaseUrl}/crl/sandbox-rsa.crl`);

      await ca().revoke(revoked.serialHex, 'superseded');
      const res = await fetchCrl(t, 'sandbox-rsa');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/pkix-crl');
      const crlPem = toPem(new Uint8Array(res.body as Buffer), 'X509 CRL');
      const issuing = { file: 'issuing.pem', content: revoked.chainPem[0] };

      const checked = await openssl(['crl', '-in', { file: 'crl.pem', content: crlPem }, '-noout', '-text', '-CAfile', issuing, '-verify']);
      expect(checked.out).toMatch(/verify OK/);
      expect(checked.out).toMatch(/Superseded/);
      const root = (await ca().trustAnchors()).roots.find((p) => parseCertificate(p).subject.commonName!.includes('(RSA)'))!;
      const chainArgs = ['-crl_check', '-CRLfile', { file: 'crl.pem', content: crlPem }, '-CAfile', { file: 'root.pem', content: root }, '-untrusted', issuing] as const;
      const r1 = await openssl(['verify', ...chainArgs, { file: 'revoked.pem', content: revoked.certificatePem }]);
      expect(r1.out).toMatch(/certificate revoked/);
      const r2 = await openssl(['verify', ...chainArgs, { file: 'good.pem', content: good.certificatePem }]);
      expect(r2.out).toMatch(/good\.pem: OK/);
    },
  );

  it('When an SM2 certificate is revoked, then /crl/sandbox-sm2.crl lists it with its reason, our SM2 verifier accepts it against the issuing CA key, and a tampered copy fails', async () => {
    const issued = await issue('SM2');
    const dp = await openssl(['x509', '-in', { file: 'leaf.pem', content: issued.certificatePem }, '-noout', '-ext', 'crlDistributionPoints']);
    expect(dp.out).toContain('/crl/sandbox-sm2.crl');
    await ca().revoke(issued.serialHex, 'keyCompromise');
    const der = new Uint8Array((await fetchCrl(t, 'sandbox-sm2')).body as Buffer);
    const issuingSpki = parseCertificate(issued.chainPem[0]).spkiDer;
    const parsed = parseCrl(der, issuingSpki);
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.entries).toContainEqual({ serialHex: issued.serialHex, revokedAt: expect.any(Date), reason: 'keyCompromise' });

    const tampered = new Uint8Array(der);
    tampered[Buffer.from(tampered).indexOf(Buffer.from(issued.serialHex, 'hex'))] ^= 1;
    expect(parseCrl(tampered, issuingSpki).signatureValid).toBe(false);
  });

  it('When certificates are revoked one after another and at once, then the CRL number only grows and every revoked certificate is listed', async () => {
    const before = parseCrl(new Uint8Array((await fetchCrl(t, 'sandbox-rsa')).body as Buffer), new Uint8Array());
    const certs = await Promise.all([1, 2, 3].map(() => issue('RSA-2048')));
    await Promise.all(certs.map((c) => ca().revoke(c.serialHex, 'cessationOfOperation')));
    const crl = await ca().crl('sandbox-rsa');
    const after = parseCrl(crl!.der, new Uint8Array());
    expect(after.crlNumber).toBeGreaterThanOrEqual(before.crlNumber! + 3);
    expect(after.entries.map((e) => e.serialHex)).toEqual(expect.arrayContaining(certs.map((c) => c.serialHex)));
    const revokedRows = await t.instance.deps.db.query("SELECT COUNT(*) AS n FROM sandbox_ca_issued WHERE status = 'revoked' AND issuer_name LIKE '%(RSA)'");
    expect(after.entries).toHaveLength(Number(revokedRows[0].n));
  });

  it('When the CRL is older than a day, then the next request gets a re-signed one with a later nextUpdate and the next number', async () => {
    const first = (await ca().crl('sandbox-rsa'))!;
    expect((await ca().crl('sandbox-rsa'))!.crlNumber).toBe(first.crlNumber); // fresh: served as stored
    clock.advance(CRL_REFRESH_AFTER_MS + 60_000);
    const next = (await ca().crl('sandbox-rsa'))!;
    expect(next.crlNumber).toBe(first.crlNumber + 1);
    expect(next.nextUpdate.getTime()).toBeGreaterThan(first.nextUpdate.getTime());
    expect(next.nextUpdate.getTime()).toBeGreaterThan(clock.nowMs());
  });

  it('When an unknown CRL is asked for, then 404; and with the RA (production) CA there is no CRL route at all', async () => {
    expect((await fetchCrl(t, 'nope')).status).toBe(404);
    expect((await request(t.instance.app.callback()).get('/crl/sandbox-rsa.der')).status).toBe(404);
    expect(crlRoutes({ ...t.instance.deps, ca: { mode: 'ra' } as never })).toBeUndefined();
  });
});
