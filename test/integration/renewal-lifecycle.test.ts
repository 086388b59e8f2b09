import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { parseCertificate, toPem } from '../../src/lib/pki/certificate';
import { parseCrl } from '../../src/lib/pki/crl';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { RenewalPreview } from '../../src/modules/orders/renewal-preview';
import { RenewalAuditLog } from '../../src/modules/renewals/audit';
import { RenewalAuditEntity, RenewalEntity } from '../../src/modules/renewals/entities';
import { RenewalInstaller } from '../../src/modules/renewals/install';
import { RenewalService } from '../../src/modules/renewals/service';
import { type BuiltInCa } from '../../src/providers/ca/sandbox';
import { backend, TestClock } from '../helpers/harness';
import { issueCertificate } from '../helpers/pki-fixtures';
import { openssl } from '../helpers/pki';
import { installOnToken, pcPage, type RenewalFixture, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { useTestApp } from '../helpers/use-test-app';

/** After INSTALLED: the grace-period revocation and the CRLs, the audit chain and its exported heads, and the cap by the CA's validity. */
const DAY = 86_400_000;
const clock = new TestClock();
const auditDir = mkdtempSync(join(tmpdir(), 'renewal-audit-'));
const t = useTestApp({ env: { PUBLIC_BASE_URL: 'http://cam.test', RENEWAL_AUDIT_EXPORT_DIR: auditDir }, clock, startJobs: false });
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));

const installer = () => new RenewalInstaller(t.instance.deps, new RenewalService(t.instance.deps));
const now = () => new Date(clock.nowMs());

async function renewed(f: RenewalFixture) {
  const page = await pcPage(t.instance.app);
  const r = await renewUpToIssued(page, f);
  expect(r.issued!.status).toBe(200);
  expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).status).toBe(200);
  return r;
}

async function crlDer(name: string): Promise<Uint8Array> {
  const res = await request(t.instance.app.callback()).get(`/crl/${name}.crl`).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  expect(res.status).toBe(200);
  return new Uint8Array(res.body as Buffer);
}

describe(`after a renewal (${backend})`, () => {
  it('When the grace period has not passed, then the superseded certificate stays good; after it, it is revoked as superseded and the CRL OpenSSL verifies lists it', async () => {
    const f = await renewalFixture(t.instance.deps, { algorithm: 'RSA-2048' });
    await renewed(f);
    const graceDays = t.instance.config.renewals.supersededGraceDays;
    expect(graceDays).toBe(7);
    clock.advance(6 * DAY);
    expect(await installer().revokeSuperseded(now(), graceDays)).toBe(0);
    expect((await t.instance.deps.ca.status(f.cert.serialHex)).status).toBe('good');
    clock.advance(2 * DAY);
    expect(await installer().revokeSuperseded(now(), graceDays)).toBeGreaterThanOrEqual(1);
    expect(await t.instance.deps.ca.status(f.cert.serialHex)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    const old = await t.instance.deps.db.getRepository(CertificateEntity).findOneByOrFail({ id: f.cert.id });
    expect(old.status).toBe('superseded');
    expect(old.revokedAt).not.toBeNull();
    // Running again revokes nothing more.
    expect(await installer().revokeSuperseded(now(), graceDays)).toBe(0);

    const crlPem = toPem(await crlDer('sandbox-rsa'), 'X509 CRL');
    const issuing = { file: 'issuing.pem', content: f.token.chainPem[0] };
    const checked = await openssl(['crl', '-in', { file: 'crl.pem', content: crlPem }, '-noout', '-text', '-CAfile', issuing, '-verify']);
    expect(checked.out).toMatch(/verify OK/);
    expect(checked.out.toUpperCase()).toContain(f.cert.serialHex.toUpperCase());
    const root = (await t.instance.deps.ca.trustAnchors()).roots.find((p) => parseCertificate(p).subject.commonName!.includes('(RSA)'))!;
    const verdict = await openssl(['verify', '-crl_check', '-CRLfile', { file: 'crl.pem', content: crlPem }, '-CAfile', { file: 'root.pem', content: root }, '-untrusted', issuing, { file: 'old.pem', content: f.token.certificatePem }]);
    expect(verdict.out).toMatch(/certificate revoked/);
  });

  it('When an SM2 pair is superseded, then after the grace period both old certificates are revoked and the SM2 CRL verifies with our SM2 verifier', async () => {
    const f = await renewalFixture(t.instance.deps, { algorithm: 'SM2' });
    // The old encryption certificate of the pair, as our records hold it (pointing at its signing twin).
    const encOld = await issueCertificate(t.instance.deps.ca, { algorithm: 'SM2', organization: f.cert.organization!, notBefore: new Date(clock.nowMs() - DAY), notAfter: f.cert.notAfter });
    const encRow = await certificateServiceFor(t.instance.deps).acceptPresented({ pem: encOld.certificatePem, mediaSerial: f.token.mediaSerial, at: now() });
    await t.instance.deps.db.getRepository(CertificateEntity).update({ id: encRow.id }, { pairCertificateId: f.cert.id, usage: 'encrypt' });
    await renewed(f);
    expect((await t.instance.deps.db.getRepository(CertificateEntity).findOneByOrFail({ id: encRow.id })).status).toBe('superseded');
    clock.advance(8 * DAY);
    await installer().revokeSuperseded(now(), 7);
    for (const serial of [f.cert.serialHex, encRow.serialHex]) expect((await t.instance.deps.ca.status(serial)).status).toBe('revoked');
    const crl = parseCrl(await crlDer('sandbox-sm2'), parseCertificate(f.token.chainPem[0]).spkiDer);
    expect(crl.signatureValid).toBe(true);
    const listed = crl.entries.filter((e) => [f.cert.serialHex, encRow.serialHex].includes(e.serialHex));
    expect(listed.map((e) => e.reason)).toEqual(['superseded', 'superseded']);
  });

  it('When every step is logged, then the chain verifies; when a row is altered, the chain breaks at it; when the history is rewritten with fresh hashes, the exported signed head exposes it', async () => {
    const log = new RenewalAuditLog(t.instance.deps);
    const { auditKeySeed } = t.instance.config.renewals;
    await renewed(await renewalFixture(t.instance.deps));
    const ok = await log.verify(auditDir, auditKeySeed);
    expect(ok).toMatchObject({ ok: true });
    const file = await log.exportHead(auditDir, auditKeySeed);
    expect(file).toContain(auditDir);
    expect(await log.verify(auditDir, auditKeySeed)).toMatchObject({ ok: true, headsChecked: 1 });

    const repo = t.instance.deps.db.getRepository(RenewalAuditEntity);
    const victim = (await repo.find({ where: { step: 'issued' }, order: { seq: 'ASC' }, take: 1 }))[0]!;
    await repo.update({ id: victim.id }, { detail: victim.detail.replace(/"notAfter":"[^"]+"/, '"notAfter":"2099-01-01T00:00:00.000Z"') });
    const broken = await log.verify(auditDir, auditKeySeed);
    expect(broken).toMatchObject({ ok: false, seq: victim.seq });
    expect(broken.ok ? '' : broken.reason).toMatch(/altered/);

    // Whoever can write the database recomputes every hash from the altered row on: the chain is consistent again…
    const { entryHash } = await import('../../src/modules/renewals/audit');
    const rows = await log.rows();
    let prev = rows[victim.seq - 2]?.hash ?? '0'.repeat(64);
    for (const row of rows.slice(victim.seq - 1)) {
      const hash = entryHash({ ...row, prevHash: prev });
      await repo.update({ id: row.id }, { prevHash: prev, hash });
      prev = hash;
    }
    const rewritten = await log.verify();
    expect(rewritten.ok).toBe(true);
    // …but not with the head exported (and signed) before.
    const exposed = await log.verify(auditDir, auditKeySeed);
    expect(exposed).toMatchObject({ ok: false });
    expect(exposed.ok ? '' : exposed.reason).toMatch(/rewritten/);
  });

  it('When the issuing CA expires before the stacked validity, then the 续期缴费 page and lookup say so before payment, and the certificate ends with the CA', async () => {
    const ca = t.instance.deps.ca as BuiltInCa;
    const rsaIssuing = (await ca.trustAnchors()).intermediates.map((p) => parseCertificate(p)).find((c) => c.subject.commonName!.includes('(RSA)'))!;
    clock.set(rsaIssuing.notAfter.getTime() - 60 * DAY);
    const f = await renewalFixture(t.instance.deps, { algorithm: 'RSA-2048', days: 30, pay: false });
    const options = await new RenewalPreview(t.instance.deps).renewalOptions(f.openid, now());
    const option = options.find((o) => o.certificate.id === f.cert.id)!;
    expect(option.capNote).toMatch(/签发机构（CA）证书的有效期/);

    const paid = await renewalFixture(t.instance.deps, { algorithm: 'RSA-2048', days: 30 });
    const page = await pcPage(t.instance.app);
    const lookup = await page.post('/lookup', { certificatePem: paid.token.certificatePem });
    expect(lookup.body).toMatchObject({ kind: 'entitled', capped: true });
    expect(lookup.body.capNote).toMatch(/签发机构（CA）证书的有效期/);
    const r = await renewUpToIssued(page, paid);
    expect(r.issued!.status).toBe(200);
    expect(new Date(r.issued!.body.notAfter).getTime()).toBe(Math.floor(rsaIssuing.notAfter.getTime() / 1000) * 1000);
    expect((await t.instance.deps.db.getRepository(RenewalEntity).findOneByOrFail({ id: r.renewalId })).state).toBe('ISSUED');
  });
});
