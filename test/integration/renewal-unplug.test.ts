import { CertificateEntity } from '../../src/modules/certificates/entities';
import { OrderEntity } from '../../src/modules/orders/entities';
import { RenewalEntity, RenewalIssuanceEntity } from '../../src/modules/renewals/entities';
import { backend } from '../helpers/harness';
import { installOnToken, pcPage, type RenewalFixture, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The key pulled out at each step (the soft token's fault switch): a retry always ends with exactly one installed
 * certificate, one renewal and one charge.
 */
const t = useTestApp({ env: { PUBLIC_BASE_URL: 'http://cam.test' }, startJobs: false });
beforeAll(() => withPcSessionRoute(t.instance.app, t.instance.deps));

async function exactlyOnce(f: RenewalFixture): Promise<void> {
  const db = t.instance.deps.db;
  const order = await db.getRepository(OrderEntity).findOneByOrFail({ orderNo: f.order!.orderNo });
  expect(order).toMatchObject({ state: 'FULFILLED', paidAmountFen: f.order!.totalFen });
  const renewals = await db.getRepository(RenewalEntity).findBy({ orderId: order.id });
  expect(renewals.map((r) => r.state)).toEqual(['INSTALLED']);
  const installed = await db.getRepository(RenewalIssuanceEntity).findBy({ renewalId: renewals[0].id, state: 'INSTALLED' });
  expect(installed).toHaveLength(1);
  expect((await db.getRepository(CertificateEntity).findOneByOrFail({ id: f.cert.id })).supersededById).toBe(renewals[0].newCertificateId);
}

describe(`the key pulled out during a renewal (${backend})`, () => {
  it('When the key is pulled during cert.install, then the next visit finds the renewal ISSUED, re-installs the stored certificate and finishes once', async () => {
    const f = await renewalFixture(t.instance.deps);
    const page = await pcPage(t.instance.app);
    const r = await renewUpToIssued(page, f);
    f.backend.unplug(f.token.mediaSerial, { during: 'cert.install' });
    await expect(installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).rejects.toMatchObject({ name: 'KeyAgentError' });
    f.backend.plug(f.token.mediaSerial);

    // The next visit (another session): lookup says where it stands, the stored certificate is fetched and installed.
    const next = await pcPage(t.instance.app);
    const lookup = await next.post('/lookup', { certificatePem: f.token.certificatePem });
    expect(lookup.body).toMatchObject({ kind: 'entitled', renewal: { id: r.renewalId, state: 'ISSUED', serialHex: r.issued!.body.serialHex, keyId: r.keyId } });
    const stored = await next.post(`/renewals/${r.renewalId}/certificate`, {});
    expect(stored.body.certificatePem).toBe(r.issued!.body.certificatePem);
    // `installed` belongs to the session that started: the new visit starts (re-binding the session) first.
    expect((await next.post(`/renewals/${r.renewalId}/installed`, { serialHex: stored.body.serialHex })).status).toBe(409);
    expect((await next.post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial })).status).toBe(200);
    expect((await installOnToken(next, f, r.renewalId!, r.keyId!, stored.body)).body.state).toBe('INSTALLED');
    await exactlyOnce(f);
  });

  it('When the key is pulled during keygen.csr, then a new attempt makes a new key and CSR and finishes once', async () => {
    const f = await renewalFixture(t.instance.deps);
    const page = await pcPage(t.instance.app);
    f.backend.unplug(f.token.mediaSerial, { during: 'keygen.csr' });
    await expect(renewUpToIssued(page, f)).rejects.toMatchObject({ name: 'KeyAgentError' });
    f.backend.plug(f.token.mediaSerial);
    // The failed attempt's challenge still holds the renewal against other browsers; this page starts over at once.
    const busy = await (await pcPage(t.instance.app)).post('/renewals', { certificatePem: f.token.certificatePem, mediaSerial: f.token.mediaSerial });
    expect(busy.body.error.code).toBe('RENEWAL_RUNNING');
    const r = await renewUpToIssued(page, f);
    expect(r.issued!.status).toBe(200);
    expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).body.state).toBe('INSTALLED');
    await exactlyOnce(f);
  });

  it('When the key is pulled during cert.confirm, then reporting installed again after the retry changes nothing and finishes once', async () => {
    const f = await renewalFixture(t.instance.deps);
    const page = await pcPage(t.instance.app);
    const r = await renewUpToIssued(page, f);
    const { certificateId } = await f.backend.installCertificate(f.token.mediaSerial, f.token.pin, { keyId: r.keyId!, certificatePem: r.issued!.body.certificatePem, replacesCertificateId: f.token.certificateId });
    f.backend.unplug(f.token.mediaSerial, { during: 'cert.confirm' });
    await expect(f.backend.confirmCertificate(f.token.mediaSerial, f.token.pin, certificateId)).rejects.toMatchObject({ name: 'KeyAgentError' });
    f.backend.plug(f.token.mediaSerial);
    await f.backend.confirmCertificate(f.token.mediaSerial, f.token.pin, certificateId);
    const results = await Promise.all([1, 2].map(() => page.post(`/renewals/${r.renewalId}/installed`, { serialHex: r.issued!.body.serialHex })));
    expect(results.map((x) => x.body.state)).toEqual(['INSTALLED', 'INSTALLED']);
    await exactlyOnce(f);
  });
});
