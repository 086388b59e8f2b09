import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import mount from 'koa-mount';
import { createLogger } from '../../src/lib/logger';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { RaCertificateAuthority } from '../../src/providers/ca/ra';
import { createSandboxRaApp } from '../../src/providers/ca/sandbox-ra-server';
import { backend, createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { installOnToken, pcPage, renewalFixture, renewUpToIssued, withPcSessionRoute } from '../helpers/renewal';

/**
 * A renewal in RA mode: the app's CA is the RA client, talking HTTP on 127.0.0.1 to the sandbox RA server (which
 * issues with a built-in CA). The RA gets `replacesSerial`, and the SM2 pair comes back through the protocol.
 */
const CLIENT_ID = 'cam-renewal';
const SECRET = 'ra-secret-renewal-0123456789abcdefghijklmn';

describe(`renewal through the RA adapter (${backend})`, () => {
  let handle: TestBackendHandle;
  let caHost: TestInstance;
  let app: TestInstance;
  let server: Server;
  let dir: string;

  beforeAll(async () => {
    handle = await createTestBackend();
    caHost = await startInstance(handle, { startJobs: false });
    const front = new Koa();
    front.use(mount('/api/v1', createSandboxRaApp({ ca: caHost.deps.ca, clients: { [CLIENT_ID]: SECRET }, clock: caHost.deps.clock, logger: createLogger('silent') })));
    server = createServer(front.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    dir = mkdtempSync(join(tmpdir(), 'renewal-ra-'));
    const anchors = await caHost.deps.ca.trustAnchors();
    writeFileSync(join(dir, 'roots.pem'), [...anchors.roots, ...anchors.intermediates].join('\n'));
    app = await startInstance(handle, {
      startJobs: false,
      env: { PUBLIC_BASE_URL: 'http://cam.test', CA_RA_BASE_URL: url, CA_RA_CLIENT_ID: CLIENT_ID, CA_RA_SECRET: SECRET, CA_TRUSTED_ROOTS_FILE: join(dir, 'roots.pem') },
    });
    withPcSessionRoute(app.app, app.deps);
  });
  afterAll(async () => {
    await app?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await caHost?.close();
    await handle?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['RSA-2048', 'SM2'] as const)('When a %s certificate is renewed in RA mode, then the RA issues over HTTP (with the serial it replaces) and the renewal is installed', async (algorithm) => {
    expect(app.deps.ca).toBeInstanceOf(RaCertificateAuthority);
    const f = await renewalFixture(app.deps, { algorithm });
    const page = await pcPage(app.app);
    const r = await renewUpToIssued(page, f);
    expect(r.issued!.status).toBe(200);
    const cert = parseCertificate(r.issued!.body.certificatePem);
    expect(cert.subject.organization).toBe(f.cert.organization);
    if (algorithm === 'SM2') expect(parseCertificate(r.issued!.body.encryptionPair.certificatePem).usage).toBe('encrypt');
    // The same CSR again: the RA is asked with the same requestId and the stored answer is the same.
    const again = await page.post(`/renewals/${r.renewalId}/csr`, { csrPem: r.csrPem, keyId: r.keyId, popSignatureBase64: Buffer.from(r.signature!).toString('base64') });
    expect(again.body.serialHex).toBe(r.issued!.body.serialHex);
    expect((await installOnToken(page, f, r.renewalId!, r.keyId!, r.issued!.body)).body.state).toBe('INSTALLED');
    expect((await app.deps.ca.status(r.issued!.body.serialHex)).status).toBe('good');
  });

  it('When a renewal names a serial the CA never issued, then the RA refuses it (unknown serial)', async () => {
    const { makeIssueRequest } = await import('../helpers/pki');
    const { request } = await makeIssueRequest('RSA-2048', { replacesSerial: '0badc0ffee' });
    await expect(app.deps.ca.issue(request)).rejects.toMatchObject({ code: 'unknown-serial' });
  });
});
