import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import mount from 'koa-mount';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { toHex } from '../../src/lib/pki/der';
import { decodeSm2Pkcs8, decodeSm2Spki } from '../../src/lib/pki/sm2';
import { openSm2EnvelopedKey } from '../../src/lib/pki/sm2-envelope';
import { TrustStore } from '../../src/lib/pki/trust-store';
import { createLogger } from '../../src/lib/logger';
import { RA_HEADERS, raCanonicalString, raSignature, RaCertificateAuthority, type RaClientOptions } from '../../src/providers/ca/ra';
import { createSandboxRaApp } from '../../src/providers/ca/sandbox-ra-server';
import { CaError } from '../../src/providers/ca/types';
import { createTestBackend, startInstance, TestClock, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { makeIssueRequest } from '../helpers/pki';

const CLIENT_ID = 'cam-test';
const SECRET = 'ra-secret-0123456789abcdefghijklmnopqrstuv';
const logger = createLogger('silent');

async function listen(app: Koa | ((req: unknown, res: unknown) => void)): Promise<{ url: string; server: Server }> {
  const server = createServer(app instanceof Koa ? app.callback() : (app as never));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
const close = (s?: Server) => new Promise<void>((r) => (s ? s.close(() => r()) : r()));

describe('the RA client against the sandbox RA server over HTTP', () => {
  let handle: TestBackendHandle;
  let app: TestInstance;
  let ra: { url: string; server: Server };
  const clock = new TestClock();
  const client = (o: Partial<RaClientOptions> = {}) =>
    new RaCertificateAuthority({ baseUrl: `${ra.url}/api/v1`, clientId: CLIENT_ID, secret: SECRET, clock, logger, ...o });

  beforeAll(async () => {
    handle = await createTestBackend();
    app = await startInstance(handle, { startJobs: false });
    const front = new Koa();
    front.use(mount('/api/v1', createSandboxRaApp({ ca: app.deps.ca, clients: { [CLIENT_ID]: SECRET }, clock, logger })));
    ra = await listen(front);
  });
  afterAll(async () => {
    await close(ra?.server);
    await app?.close();
    await handle?.drop();
  });

  it('When a certificate is issued through the RA, then it chains to the CA anchors and a repeat returns the same one', async () => {
    const { request } = await makeIssueRequest('SM2');
    const issued = await client().issue(request);
    const again = await client().issue(request);
    expect(again).toEqual(issued);
    const cert = parseCertificate(issued.certificatePem);
    expect(cert.serialHex).toBe(issued.serialHex);
    expect(new TrustStore(await app.deps.ca.trustAnchors()).verify(cert, new Date()).ok).toBe(true);
  });

  it('When an SM2 dual pair is asked for through the RA, then the encryption certificate and the envelope come back over HTTP, and only the signing key opens it', async () => {
    const { key, request } = await makeIssueRequest('SM2', { encryptionKey: { requestId: `ra-${Date.now()}` } });
    const issued = await client().issue(request);
    expect(await client().issue(request)).toEqual(issued);
    expect(parseCertificate(issued.encryptionPair!.certificatePem).usage).toBe('encrypt');
    const opened = openSm2EnvelopedKey(new Uint8Array(Buffer.from(issued.encryptionPair!.envelopedKeyBase64, 'base64')), decodeSm2Pkcs8(key.privateKeyPkcs8Der).privateKey);
    expect(toHex(opened.publicKey)).toBe(toHex(decodeSm2Spki(parseCertificate(issued.encryptionPair!.certificatePem).spkiDer)));
    const bad = await makeIssueRequest('SM2', { encryptionKey: { requestId: 'bad id!' } });
    await expect(client().issue(bad.request)).rejects.toMatchObject({ code: 'invalid-request' });
  });

  it('When a certificate is revoked through the RA, then its status says revoked; an unknown serial is unknown', async () => {
    const { request } = await makeIssueRequest('ECDSA-P256');
    const ca = client();
    const issued = await ca.issue(request);
    expect(await ca.status(issued.serialHex)).toEqual({ status: 'good' });
    await ca.revoke(issued.serialHex, 'superseded');
    expect(await ca.status(issued.serialHex)).toMatchObject({ status: 'revoked', reason: 'superseded', revokedAt: expect.any(Date) });
    expect(await ca.status('7f01')).toEqual({ status: 'unknown' });
    await expect(ca.revoke('7f01', 'unspecified')).rejects.toMatchObject({ code: 'unknown-serial', upstreamCode: 'UNKNOWN_SERIAL' });
  });

  it('When the CSR is bad, then the RA error comes back typed, not retryable', async () => {
    const { request } = await makeIssueRequest('RSA-2048');
    const err = await client().issue({ ...request, csrPem: request.csrPem.replace(/[A-Za-z](?=[^\n]*\n-----END)/, (c) => (c === 'A' ? 'B' : 'A')) }).catch((e) => e);
    expect(err).toBeInstanceOf(CaError);
    expect(err).toMatchObject({ code: 'bad-csr', upstreamCode: 'BAD_CSR', retryable: false });
  });

  it('When the secret is wrong, the clock is off or a nonce is replayed, then the RA refuses with 401', async () => {
    const { request } = await makeIssueRequest('SM2');
    await expect(client({ secret: 'x'.repeat(40) }).issue(request)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(client({ clock: new TestClock(clock.nowMs() - 600_000) }).status('01')).rejects.toMatchObject({ code: 'unauthorized', message: expect.stringMatching(/timestamp/) });

    const path = '/api/v1/certificates/01/status';
    const ts = String(Math.floor(clock.nowMs() / 1000));
    const nonce = 'a'.repeat(32);
    const headers = { [RA_HEADERS.clientId]: CLIENT_ID, [RA_HEADERS.timestamp]: ts, [RA_HEADERS.nonce]: nonce, [RA_HEADERS.signature]: raSignature(SECRET, raCanonicalString('GET', path, ts, nonce, '')) };
    expect((await fetch(`${ra.url}${path}`, { headers })).status).toBe(200);
    const replay = await fetch(`${ra.url}${path}`, { headers });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'UNAUTHORIZED', message: 'nonce already used' });
  });

  it('When the RA hangs, is down, answers 5xx or the URL is wrong, then errors say unavailable (retryable) or protocol', async () => {
    const hanging = await listen(() => undefined);
    const failing = await listen((_req: unknown, res: unknown) => {
      const r = res as { writeHead(s: number, h: object): void; end(b: string): void };
      r.writeHead(503, { 'content-type': 'application/json' });
      r.end('{"code":"MAINTENANCE","message":"down for maintenance"}');
    });
    try {
      const slow = await client({ baseUrl: hanging.url, timeoutMs: 200 }).status('01').catch((e) => e);
      expect(slow).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringMatching(/timed out/) });
      await expect(client({ baseUrl: 'http://127.0.0.1:1' }).status('01')).rejects.toMatchObject({ code: 'unavailable' });
      await expect(client({ baseUrl: failing.url }).status('01')).rejects.toMatchObject({ code: 'unavailable', upstreamCode: 'MAINTENANCE' });
      await expect(client({ baseUrl: `${ra.url}/wrong` }).status('01')).rejects.toMatchObject({ code: 'protocol' });
    } finally {
      hanging.server.closeAllConnections();
      await close(hanging.server);
      await close(failing.server);
    }
  });

  it('When the app starts in RA mode, then the RA is not contacted and the anchors come from the roots file', async () => {
    let calls = 0;
    const counting = await listen(() => {
      calls += 1;
    });
    const dir = mkdtempSync(join(tmpdir(), 'ra-roots-'));
    const anchors = await app.deps.ca.trustAnchors();
    writeFileSync(join(dir, 'roots.pem'), [...anchors.roots, ...anchors.intermediates].join('\n'));
    const other = await createTestBackend();
    try {
      const instance = await startInstance(other, {
        startJobs: false,
        env: { CA_RA_BASE_URL: counting.url, CA_RA_CLIENT_ID: CLIENT_ID, CA_RA_SECRET: SECRET, CA_TRUSTED_ROOTS_FILE: join(dir, 'roots.pem') },
      });
      try {
        expect(instance.deps.ca.mode).toBe('ra');
        expect(await instance.deps.ca.trustAnchors()).toEqual(anchors);
        expect(calls).toBe(0);
      } finally {
        await instance.close();
      }
    } finally {
      counting.server.closeAllConnections();
      await close(counting.server);
      await other.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
