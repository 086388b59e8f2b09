import { parseCertificate } from '../../src/lib/pki/certificate';
import { decodeSm2Pkcs8, decodeSm2Spki } from '../../src/lib/pki/sm2';
import { openSm2EnvelopedKey, sm2Decrypt, sm2Encrypt } from '../../src/lib/pki/sm2-envelope';
import { openKey } from '../../src/key-agent/backends/soft-token-store';
import { CertificateBindingEntity } from '../../src/modules/binding/entities';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { NoticeOutboxEntity } from '../../src/modules/notices/outbox';
import { OrderEntity } from '../../src/modules/orders/entities';
import { RenewalAuditEntity, RenewalEntity, RenewalIssuanceEntity } from '../../src/modules/renewals/entities';
import { addYears } from '../../src/modules/renewals/validity';
import { backend } from '../helpers/harness';
import { installOnToken, pcPage, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The renewal API driven as the PC page drives it, with a real soft token (the key agent's backend, in-process):
 * keys are generated on the token, the old certificate's key signs the proof of possession, the app's CA issues.
 */
const BASE = 'http://cam.test';

const t = useTestApp({ env: { PUBLIC_BASE_URL: BASE }, startJobs: false });
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));

describe(`PC renewal API (${backend})`, () => {
  it.each(['RSA-2048', 'ECDSA-P256'] as const)('When a paid %s certificate is renewed early, then the new certificate keeps the remaining days, carries our subject and a CRL distribution point, and INSTALLED moves everything', async (algorithm) => {
    const f = await renewalFixture(t.instance.deps, { algorithm, days: 40 });
    const page = await pcPage(t.instance.app);
    const lookup = await page.post('/lookup', { certificatePem: f.token.certificatePem });
    expect(lookup.status).toBe(200);
    expect(lookup.body).toMatchObject({ kind: 'entitled', orderNo: f.order!.orderNo, years: 1, capped: false });
    const oldNotAfter = f.cert.notAfter;
    expect(Math.abs(new Date(lookup.body.newNotAfter).getTime() - addYears(oldNotAfter, 1).getTime())).toBeLessThan(1000);

    const r = await renewUpToIssued(page, f);
    expect(r.started.status).toBe(200);
    expect(r.started.body).toMatchObject({ keyAlgorithm: algorithm, dual: false });
    expect(r.issued!.status).toBe(200);
    const issued = r.issued!.body;
    expect(issued.state).toBe('ISSUED');
    const cert = parseCertificate(issued.certificatePem);
    // Early renewal loses no day: old notAfter + 1 year (to the second).
    expect(Math.abs(cert.notAfter.getTime() - addYears(oldNotAfter, 1).getTime())).toBeLessThan(1000);
    expect(cert.subject.organization).toBe(f.cert.organization);
    expect(cert.subject.commonName).not.toBe('CSR 里的名字');
    expect(cert.algorithm).toBe(algorithm);
    expect(Buffer.from(cert.der).toString('latin1')).toContain(`${BASE}/crl/sandbox-rsa.crl`);

    const done = await installOnToken(page, f, r.renewalId!, r.keyId!, issued);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ state: 'INSTALLED', serialHex: issued.serialHex });
    const db = t.instance.deps.db;
    const old = await db.getRepository(CertificateEntity).findOneByOrFail({ id: f.cert.id });
    expect(old.status).toBe('superseded');
    const renewed = await db.getRepository(CertificateEntity).findOneByOrFail({ id: old.supersededById! });
    expect(renewed.serialHex).toBe(cert.serialHex);
    expect(await db.getRepository(CertificateBindingEntity).findOneBy({ certificateId: renewed.id, openid: f.openid, active: true })).not.toBeNull();
    expect((await db.getRepository(OrderEntity).findOneByOrFail({ orderNo: f.order!.orderNo })).state).toBe('FULFILLED');
    expect(await db.getRepository(NoticeOutboxEntity).findOneBy({ noticeKey: `renewed-${r.renewalId}` })).not.toBeNull();
    const steps = (await db.getRepository(RenewalAuditEntity).find({ where: { renewalId: r.renewalId }, order: { seq: 'ASC' } })).map((a) => a.step);
    expect(steps).toEqual(['entitled', 'challenge', 'csr-received', 'issued', 'installed']);

    // Repeating `installed` changes nothing; the old certificate now looks up as renewed.
    expect((await page.post(`/renewals/${r.renewalId}/installed`, { serialHex: issued.serialHex })).body.state).toBe('INSTALLED');
    const after = await page.post('/lookup', { certificatePem: f.token.certificatePem });
    expect(after.body).toMatchObject({ kind: 'renewed', serialHex: issued.serialHex });
    expect((await page.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial })).body.error.code).toBe('ALREADY_RENEWED');
  });

  it('When an SM2 certificate is renewed, then a signing and an encryption certificate come back and the new key on the token opens the envelope and decrypts what is encrypted to the new encryption certificate', async () => {
    const f = await renewalFixture(t.instance.deps, { algorithm: 'SM2' });
    const page = await pcPage(t.instance.app);
    const r = await renewUpToIssued(page, f);
    expect(r.started.body).toMatchObject({ keyAlgorithm: 'SM2', dual: true });
    expect(r.issued!.status).toBe(200);
    const { encryptionPair } = r.issued!.body;
    expect(encryptionPair).toBeDefined();
    const enc = parseCertificate(encryptionPair.certificatePem);
    expect(enc.usage).toBe('encrypt');
    expect(Buffer.from(enc.der).toString('latin1')).toContain(`${BASE}/crl/sandbox-sm2.crl`);

    // The new signing key, as the soft token keeps it (sealed under the PIN), opens the SM2EnvelopedKey.
    const store = f.backend.store;
    const kek = await store.unlock(f.token.mediaSerial, f.token.pin);
    const record = (await store.read(f.token.mediaSerial))!;
    const signingKey = decodeSm2Pkcs8(openKey(kek, f.token.mediaSerial, record.keys.find((k) => k.keyId === r.keyId)!));
    const encPair = openSm2EnvelopedKey(new Uint8Array(Buffer.from(encryptionPair.envelopedKeyBase64, 'base64')), signingKey.privateKey);
    const secret = new TextEncoder().encode('续期后的加密证书可以解密');
    const cipher = sm2Encrypt(decodeSm2Spki(enc.spkiDer), secret);
    expect(Buffer.from(sm2Decrypt(encPair.privateKey, cipher)).toString('utf8')).toBe('续期后的加密证书可以解密');

    const done = await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body);
    expect(done.status).toBe(200);
    const db = t.instance.deps.db;
    const renewal = await db.getRepository(RenewalEntity).findOneByOrFail({ id: r.renewalId });
    const signing = await db.getRepository(CertificateEntity).findOneByOrFail({ id: renewal.newCertificateId! });
    const encRow = await db.getRepository(CertificateEntity).findOneByOrFail({ id: signing.pairCertificateId! });
    expect(encRow).toMatchObject({ usage: 'encrypt', pairCertificateId: signing.id, serialHex: enc.serialHex });
  });

  it('When nothing is paid, then lookup offers the price and the phone page, and starting is refused NOT_ENTITLED', async () => {
    const f = await renewalFixture(t.instance.deps, { pay: false });
    const page = await pcPage(t.instance.app);
    const lookup = await page.post('/lookup', { certificatePem: f.token.certificatePem });
    expect(lookup.body).toMatchObject({ kind: 'unpaid', years: 1, payUrl: `${BASE}/h5/renew?cert=${f.cert.id}` });
    expect(lookup.body.priceFen).toBeGreaterThan(0);
    const start = await page.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial });
    expect(start.status).toBe(402);
    expect(start.body.error.code).toBe('NOT_ENTITLED');
  });

  it('When the order waits for a bank transfer, then lookup says transfer-waiting with the deadline and starting is refused TRANSFER_WAITING', async () => {
    const f = await renewalFixture(t.instance.deps, { pay: 'transfer' });
    const page = await pcPage(t.instance.app);
    const lookup = await page.post('/lookup', { certificatePem: f.token.certificatePem });
    expect(lookup.body).toMatchObject({ kind: 'transfer-waiting', orderNo: f.order!.orderNo });
    expect(new Date(lookup.body.deadline).getTime()).toBeGreaterThan(Date.now());
    const start = await page.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial });
    expect(start.body.error.code).toBe('TRANSFER_WAITING');
  });

  it('When the same CSR is sent again, then the same certificate comes back; when a new CSR follows an uninstalled one, then the first is revoked and the order is charged once', async () => {
    const f = await renewalFixture(t.instance.deps);
    const page = await pcPage(t.instance.app);
    const first = await renewUpToIssued(page, f);
    const again = await page.post(`/renewals/${first.renewalId}/csr`, { csrPem: first.csrPem, keyId: first.keyId, popSignatureBase64: Buffer.from(first.signature!).toString('base64') });
    expect(again.status).toBe(200);
    expect(again.body.serialHex).toBe(first.issued!.body.serialHex);

    // The key was pulled before install and the new key pair lost: a new CSR replaces the uninstalled certificate.
    const second = await renewUpToIssued(page, f);
    expect(second.issued!.status).toBe(200);
    expect(second.renewalId).toBe(first.renewalId);
    expect(second.issued!.body.serialHex).not.toBe(first.issued!.body.serialHex);
    expect((await t.instance.deps.ca.status(first.issued!.body.serialHex)).status).toBe('revoked');
    expect((await t.instance.deps.ca.status(second.issued!.body.serialHex)).status).toBe('good');
    const old = await page.post(`/renewals/${first.renewalId}/csr`, { csrPem: first.csrPem, keyId: first.keyId, popSignatureBase64: Buffer.from(first.signature!).toString('base64') });
    expect(old.body.error.code).toBe('CSR_REPLACED');

    const done = await installOnToken(page, f, second.renewalId!, second.keyId!, second.issued!.body);
    expect(done.status).toBe(200);
    const db = t.instance.deps.db;
    const issuances = await db.getRepository(RenewalIssuanceEntity).findBy({ renewalId: second.renewalId });
    expect(issuances.map((i) => i.state).sort()).toEqual(['INSTALLED', 'REPLACED']);
    const order = await db.getRepository(OrderEntity).findOneByOrFail({ orderNo: f.order!.orderNo });
    expect(order).toMatchObject({ state: 'FULFILLED', paidAmountFen: f.order!.totalFen });
    expect(await db.getRepository(RenewalEntity).countBy({ orderId: order.id })).toBe(1);
  });

  it('When two tabs start the same renewal at once, then one gets the challenge and the other RENEWAL_RUNNING', async () => {
    const f = await renewalFixture(t.instance.deps);
    const [a, b] = await Promise.all([pcPage(t.instance.app), pcPage(t.instance.app)]);
    const body = { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial };
    const results = await Promise.all([a.post('/renewals', body), b.post('/renewals', body)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.error.code).toBe('RENEWAL_RUNNING');
  });

  it('When the PoP is signed by another key, or the challenge came to another session, then nothing is issued', async () => {
    const f = await renewalFixture(t.instance.deps);
    const other = await renewalFixture(t.instance.deps);
    const page = await pcPage(t.instance.app);
    const started = await page.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial });
    const { renewalId, subject } = started.body;
    const { keyId, csrPem } = await f.backend.keygenCsr(f.token.mediaSerial, f.token.pin, 'RSA-2048', subject);
    const stranger = await pcPage(t.instance.app);
    expect((await stranger.post(`/renewals/${renewalId}/pop-message`, { csrPem })).body.error.code).toBe('CHALLENGE_EXPIRED');
    const message = await page.post(`/renewals/${renewalId}/pop-message`, { csrPem });
    const { signature } = await other.backend.sign(other.token.mediaSerial, other.token.pin, other.token.certificateId, Buffer.from(message.body.messageBase64, 'base64'));
    const res = await page.post(`/renewals/${renewalId}/csr`, { csrPem, keyId, popSignatureBase64: Buffer.from(signature).toString('base64') });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('POP_INVALID');
    expect(await t.instance.deps.db.getRepository(RenewalIssuanceEntity).countBy({ renewalId })).toBe(0);
    // The challenge was used up by the failed try.
    const retry = await page.post(`/renewals/${renewalId}/csr`, { csrPem, keyId, popSignatureBase64: Buffer.from(signature).toString('base64') });
    expect(retry.body.error.code).toBe('CHALLENGE_EXPIRED');
  });

  it('When the API is called without the PC session\'s CSRF token, then it is refused SESSION_EXPIRED', async () => {
    const res = await (await import('supertest')).default(t.instance.app.callback()).post('/gdca-page/api/lookup').set('Content-Type', 'application/json').send('{}');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('SESSION_EXPIRED');
  });
});


