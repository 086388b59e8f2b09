import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type DataSource } from 'typeorm';
import { type AppConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { subjectToName } from '../../src/lib/pki/names';
import { generateSoftKeyPair, signWithSoftKey } from '../../src/lib/pki/soft-keys';
import { BuiltInCa } from '../../src/providers/ca/sandbox';
import { CertificateReviewEntity } from '../../src/modules/certificates/entities';
import { ProjectRules } from '../../src/modules/certificates/projects';
import { CertificateRepository } from '../../src/modules/certificates/repository';
import { CertificateService } from '../../src/modules/certificates/service';
import { backend } from '../helpers/harness';
import { issueCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';
import { makeCa, makeLeaf } from '../helpers/pki';

/**
 * CertificateService.acceptPresented against real certificates: issued by the built-in sandbox CA (kept in an
 * test backend's database: MariaDB or the embedded SQLite), or by a stranger CA built with the x509 builder.
 */
const DAY = 86_400_000;
const logger = createLogger('silent');

let db: DataSource;
let ca: BuiltInCa;
let config: AppConfig;
let service: CertificateService;
const repo = new CertificateRepository();

const t = useTestApp({ env: { BIND_EXPIRED_GRACE_DAYS: '30' }, startJobs: false });
beforeAll(async () => {
  ({ config } = t.instance);
  ({ db } = t.instance.deps);
  ca = await new BuiltInCa({ db, clock: { nowMs: () => Date.now() }, logger, keyEncryptionKey: config.ca.keyEncryptionKey }).ensure();
  service = new CertificateService({ config, db, ca, logger }, ProjectRules.load(join(__dirname, '../../config/projects.json')));
});


const at = () => new Date();
const serial = () => `9${randomBytes(7).toString('hex').replace(/\D/g, '7').padEnd(15, '3').slice(0, 15)}`;

describe(`CertificateService.acceptPresented (${backend})`, () => {
  it('When a valid certificate of the built-in CA is presented for the first time, then it is imported with its project and type', async () => {
    const issued = await issueCertificate(ca, { organization: '梅州市首见科技有限公司' });
    const media = serial();
    const cert = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: media, at: at() });
    expect(cert).toMatchObject({
      fingerprintSha256: issued.cert.fingerprintSha256, organization: '梅州市首见科技有限公司', project: '梅州市住房公积金', certType: '机构证书',
      mediaSerial: media, status: 'valid', sandbox: true,
    });
    const again = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: media, at: at() });
    expect(again.id).toBe(cert.id);
  });

  it('When a known certificate comes from another media serial, then the record follows the agent', async () => {
    const issued = await issueCertificate(ca, { certType: '个人证书' });
    const first = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() });
    expect(first.certType).toBe('个人证书');
    const other = serial();
    const moved = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: other, at: at() });
    expect(moved.mediaSerial).toBe(other);
    expect((await repo.findById(db.manager, first.id))?.mediaSerial).toBe(other);
  });

  it('When the text is not a certificate, then it is refused as unrecognisable', async () => {
    const garbage = `-----BEGIN CERTIFICATE-----\n${Buffer.from('not a certificate at all').toString('base64')}\n-----END CERTIFICATE-----\n`;
    await expect(service.acceptPresented({ pem: garbage, mediaSerial: serial(), at: at() })).rejects.toMatchObject({ status: 400, userMessage: expect.stringContaining('无法识别该证书') });
  });

  it('When the certificate chains to no trusted root, then it is refused and nothing is recorded', async () => {
    const strangerRoot = await makeCa('ECDSA-P256', '别家 Root CA');
    const leaf = await makeLeaf(strangerRoot, 'ECDSA-P256', { commonName: '李四', organization: '别家公司', organizationalUnit: '梅州市住房公积金' });
    await expect(service.acceptPresented({ pem: leaf.cert.pem, mediaSerial: serial(), at: at() }))
      .rejects.toMatchObject({ status: 403, reason: 'untrusted', userMessage: expect.stringContaining('受信任'), detail: expect.stringContaining('untrusted') });
    expect(await repo.findByFingerprint(db.manager, leaf.cert.fingerprintSha256)).toBeNull();
  });

  it('When a certificate copies a trusted issuer name but is signed by another key, then it is refused as untrusted', async () => {
    const anchors = await ca.trustAnchors();
    const issuing = parseCertificate(anchors.intermediates.find((p) => parseCertificate(p).algorithm === 'RSA-2048')!);
    const forger = await makeCa('RSA-2048', 'forger');
    // Same issuer name as the real issuing CA, but the forger's key signs.
    const impostor = { ...forger, signer: { ...forger.signer, name: subjectToName(issuing.subject) } };
    const leaf = await makeLeaf(impostor, 'ECDSA-P256');
    await expect(service.acceptPresented({ pem: leaf.cert.pem, mediaSerial: serial(), at: at() })).rejects.toMatchObject({ reason: 'untrusted', detail: expect.stringContaining('chain verification failed') });
  });

  it('When the CA says the certificate is revoked, then it is refused and a known record is marked revoked', async () => {
    const issued = await issueCertificate(ca);
    const known = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() });
    await ca.revoke(issued.cert.serialHex, 'keyCompromise');
    await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() }))
      .rejects.toMatchObject({ status: 403, reason: 'revoked', userMessage: expect.stringContaining('该证书已吊销') });
    expect((await repo.findById(db.manager, known.id))?.status).toBe('revoked');
  });

  it('When our own record says revoked, then it is refused even if the CA has no record of it', async () => {
    const issued = await issueCertificate(ca);
    const known = await service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() });
    await repo.markRevoked(db.manager, known.id, at());
    await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() })).rejects.toMatchObject({ reason: 'revoked', detail: expect.stringContaining('our record') });
  });

  it('When the certificate is not valid yet, then it is refused', async () => {
    const issued = await issueCertificate(ca, { notBefore: new Date(Date.now() + 2 * DAY), notAfter: new Date(Date.now() + 300 * DAY) });
    await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() })).rejects.toMatchObject({ reason: 'not-yet-valid', userMessage: expect.stringContaining('尚未生效') });
  });

  it('When the certificate expired longer ago than the grace period, then it is refused with the number of days and the hotline', async () => {
    const issued = await issueCertificate(ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 31 * DAY) });
    await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() })).rejects.toMatchObject({
      status: 403, reason: 'expired', userMessage: expect.stringMatching(/该证书已过期超过 30 天.*请联系客服/),
    });
  });

  it('When the certificate expired within the grace period, then it is accepted (it still needs renewal)', async () => {
    const issued = await issueCertificate(ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 29 * DAY) });
    await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() })).resolves.toMatchObject({ certType: '机构证书' });
  });

  it('When no project rule matches, then the certificate is queued once for an operator, counted on each sight, and refused', async () => {
    const issued = await issueCertificate(ca, { certType: '设备证书' });
    for (let i = 0; i < 2; i++) {
      await expect(service.acceptPresented({ pem: issued.certificatePem, mediaSerial: serial(), at: at() })).rejects.toMatchObject({
        reason: 'needs-review', userMessage: expect.stringContaining('该证书类型暂不支持在线办理，已提交人工审核'),
      });
    }
    const review = await db.manager.findOneBy(CertificateReviewEntity, { fingerprintSha256: issued.cert.fingerprintSha256 });
    expect(review).toMatchObject({ status: 'pending', seenCount: 2, sandbox: true, policyOids: '1.3.6.1.4.1.59999.1.4' });
    expect(await repo.findByFingerprint(db.manager, issued.cert.fingerprintSha256)).toBeNull();
  });

  it('When a CA certificate is presented, then it is refused as not an end-entity certificate', async () => {
    const { intermediates } = await ca.trustAnchors();
    await expect(service.acceptPresented({ pem: intermediates[0], mediaSerial: serial(), at: at() })).rejects.toMatchObject({ reason: 'not-end-entity' });
  });
});

describe(`CertificateService.assertPossession (${backend})`, () => {
  it('When the challenge was signed by the certificate key, then possession is proven', async () => {
    const issued = await issueCertificate(ca, { algorithm: 'SM2' });
    const data = Buffer.from('数安CA管家证书绑定\n挑战: x', 'utf8');
    expect(() => service.assertPossession(issued.cert, data, signWithSoftKey('SM2', issued.key.privateKeyPkcs8Der, data))).not.toThrow();
  });

  it.each(['ECDSA-P256', 'RSA-2048', 'SM2'] as const)('When another %s key signed the challenge, then it is refused as a bad signature', async (algorithm) => {
    const issued = await issueCertificate(ca, { algorithm });
    const data = Buffer.from('数安CA管家证书绑定\n挑战: y', 'utf8');
    const other = generateSoftKeyPair(algorithm);
    expect(() => service.assertPossession(issued.cert, data, signWithSoftKey(algorithm, other.privateKeyPkcs8Der, data))).toThrow(expect.objectContaining({ reason: 'bad-signature', status: 403 }));
    // The right key over other data does not pass either.
    const elsewhere = signWithSoftKey(algorithm, issued.key.privateKeyPkcs8Der, Buffer.from('另一个站点的挑战'));
    expect(() => service.assertPossession(issued.cert, data, elsewhere)).toThrow(expect.objectContaining({ reason: 'bad-signature' }));
  });
});
