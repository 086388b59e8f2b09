import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { openDeps, closeDeps } from '../../src/composition';
import { createLogger } from '../../src/lib/logger';
import { type WechatPay } from '../../src/providers/wechatpay';
import { WechatPayPlatformCertificateEntity } from '../../src/providers/wechatpay/entities';
import { UNKNOWN_SERIAL_MIN_INTERVAL_MS } from '../../src/providers/wechatpay/platform-certificates';
import { type SandboxWechatPayState } from '../../src/providers/wechatpay/sandbox-state';
import { createTestBackend, startInstance, TestClock, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { freePort } from '../helpers/listening';

/**
 * Platform-certificate mode end to end: the app in sandbox mode with WECHATPAY_PLATFORM_CERTS=download, the real
 * client downloading GET /v3/certificates from the sandbox WeChat Pay over HTTP on 127.0.0.1, the downloaded
 * certificates kept in the shared key ring and the database. The clock is a TestClock shared by app and sandbox.
 */
let handle: TestBackendHandle;
let app: TestInstance;
let server: Server;
let pay: WechatPay;
let sandbox: SandboxWechatPayState;
const clock = new TestClock();
const DAY = 86400_000;

const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
/** A payment notify as the sandbox signs it right now (its current certificate, or `as`). */
function notify(as?: { serial: string; key: import('node:crypto').KeyObject }) {
  const saved = sandbox.signingOverride;
  sandbox.signingOverride = as;
  try {
    const n = sandbox.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', { out_trade_no: 'R20261126X1', trade_state: 'SUCCESS' });
    return { headers: lower(n.headers), body: n.body };
  } finally {
    sandbox.signingOverride = saved;
  }
}
const verifies = (n: ReturnType<typeof notify>) => {
  try {
    return pay.verifyNotify(n.headers, n.body).kind === 'transaction';
  } catch {
    return false;
  }
};
const stored = async () => (await app.deps.db.getRepository(WechatPayPlatformCertificateEntity).find()).map((r) => r.serialNo).sort();
const held = () => pay.certificates.held().sort();
/** A 2xx answer (error answers are not signed-checked, as in the official SDKs): prepay, then query the order. */
let seq = 0;
async function signedCalls() {
  const no = `C${Date.now().toString(36)}${seq++}`;
  await pay.jsapiPrepay({ outTradeNo: no, description: '证书', amountFen: 1, openid: 'oTest', expiresAtMs: clock.nowMs() + 30 * 60_000 });
  return pay.queryByOutTradeNo(no);
}
const caught = async (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as Error & { kind?: string });
/** Lets the unknown-serial rate limit pass, as a minute would. */
const aMinuteLater = () => clock.advance(UNKNOWN_SERIAL_MIN_INTERVAL_MS + 1_000);

beforeAll(async () => {
  handle = await createTestBackend();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  app = await startInstance(handle, { clock, startJobs: false, env: { PORT: String(port), HOST: '127.0.0.1', PUBLIC_BASE_URL: url, WECHATPAY_PLATFORM_CERTS: 'download' } });
  server = createServer(app.app.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  pay = app.deps.wechatpay;
  sandbox = app.deps.sandboxWechatPay!;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await app?.close();
  await handle?.drop();
});

describe('WeChat Pay platform certificates (download mode, against the sandbox WeChat Pay)', () => {
  it('When the sandbox runs in certificate mode, then it signs under its certificate serial and the app starts with no key and nothing stored', async () => {
    expect(app.config.wechatpay).toMatchObject({ platformCerts: 'download', publicKey: undefined });
    expect(sandbox.signWith).toBe('certificate');
    expect(held()).toEqual([]);
    expect(await stored()).toEqual([]);
  });

  it('When a certificate\'s ciphertext is tampered with (GCM tag), then the download is refused and nothing is held or stored', async () => {
    sandbox.tamperNextCertificates = true;
    const result = await pay.certificates.refresh('test');
    expect(result).toMatchObject({ ok: false, added: [] });
    expect(result.error).toMatch(/does not decrypt and authenticate/);
    expect(held()).toEqual([]);
    expect(await stored()).toEqual([]);
  });

  it('When the answer is signed under a serial that no held or carried certificate has, then the download is refused and nothing is stored', async () => {
    sandbox.signingOverride = { serial: '7A0B1C2D3E4F50617283940A1B2C3D4E5F607182', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    const result = await pay.certificates.refresh('test');
    sandbox.signingOverride = undefined;
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/unknown Wechatpay-Serial 7A0B1C2D/);
    // Signed under the real certificate's serial but with another key: a bad signature, refused as well.
    sandbox.signingOverride = { serial: sandbox.certificates.signer.serialNo, key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    expect((await pay.certificates.refresh('test')).error).toMatch(/bad signature/);
    sandbox.signingOverride = undefined;
    expect(held()).toEqual([]);
    expect(await stored()).toEqual([]);
  });

  it('When the first download arrives, then it is decrypted, verified with the certificate it carries, stored, and answers and notifies signed by it verify', async () => {
    const first = sandbox.certificates.signer.serialNo;
    const result = await pay.certificates.refresh('test');
    expect(result).toMatchObject({ ok: true, added: [first], dropped: [] });
    expect(held()).toEqual([first]);
    expect(await stored()).toEqual([first]);
    expect(await signedCalls()).toMatchObject({ trade_state: 'NOTPAY' });
    expect(verifies(notify())).toBe(true);
  });

  it('When WeChat Pay rotates its certificate, then the first answer under the new serial triggers a refresh and old and new both verify (no downtime)', async () => {
    const old = sandbox.certificates.signer;
    aMinuteLater();
    const next = sandbox.certificates.rotate({ notAfterMs: clock.nowMs() + 3 * DAY });
    const downloads = pay.certificates.downloads;
    // An answer signed by the new certificate: the client asks the keeper, which downloads once, then it verifies.
    expect(await signedCalls()).toMatchObject({ trade_state: 'NOTPAY' });
    expect(pay.certificates.downloads).toBe(downloads + 1);
    expect(held()).toEqual([old.serialNo, next.serialNo].sort());
    expect(await stored()).toEqual([old.serialNo, next.serialNo].sort());
    expect(verifies(notify())).toBe(true);
    expect(verifies(notify({ serial: old.serialNo, key: old.privateKey }))).toBe(true);
  });

  it('When a notify names a serial we lack, then it is refused, a background refresh runs at most once a minute however many arrive, and WeChat Pay\'s resend verifies', async () => {
    aMinuteLater();
    const newer = sandbox.certificates.rotate();
    const downloads = pay.certificates.downloads;
    const first = notify();
    expect(verifies(first)).toBe(false);
    await pay.certificates.settled();
    expect(pay.certificates.downloads).toBe(downloads + 1);
    expect(verifies(notify())).toBe(true); // the resend
    // A forger's serials: refused, and within the minute no further download however many arrive.
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (let i = 0; i < 5; i++) {
      expect(verifies(notify({ serial: `6${String(i).repeat(39)}`, key: forger }))).toBe(false);
      await pay.certificates.settled();
    }
    sandbox.signingOverride = { serial: '6AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', key: forger };
    expect(await caught(signedCalls())).toMatchObject({ kind: 'bad-response-signature' });
    sandbox.signingOverride = undefined;
    expect(pay.certificates.downloads).toBe(downloads + 1);
    aMinuteLater();
    expect(verifies(notify({ serial: '6BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', key: forger }))).toBe(false);
    await pay.certificates.settled();
    expect(pay.certificates.downloads).toBe(downloads + 2);
    expect(held()).toContain(newer.serialNo);
  });

  it('When a certificate expires, then it no longer verifies and the next refresh drops it from the ring and the database', async () => {
    const [a, b, c] = sandbox.certificates.all;
    clock.advance(3 * DAY + 60_000); // b was issued for 3 days
    expect(verifies(notify({ serial: b.serialNo, key: b.privateKey }))).toBe(false);
    const result = await pay.certificates.refresh('test');
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, dropped: [b.serialNo] });
    expect(held()).toEqual([a.serialNo, c.serialNo].sort());
    expect(await stored()).toEqual([a.serialNo, c.serialNo].sort());
    expect(verifies(notify({ serial: a.serialNo, key: a.privateKey }))).toBe(true);
    expect(verifies(notify())).toBe(true);
  });

  it('When a download fails, then the keys held stay in use and nothing stored is removed', async () => {
    const before = held();
    sandbox.tamperNextCertificates = true;
    expect((await pay.certificates.refresh('test')).ok).toBe(false);
    sandbox.signingOverride = { serial: '7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    expect((await pay.certificates.refresh('test')).ok).toBe(false);
    sandbox.signingOverride = undefined;
    expect(held()).toEqual(before);
    expect(await stored()).toEqual(before);
    expect(verifies(notify())).toBe(true);
    expect(await signedCalls()).toMatchObject({ trade_state: 'NOTPAY' });
  });

  it('When another instance starts on the same database, then it holds the stored certificates without downloading, and finds a rotated one there too', async () => {
    const other = await openDeps(app.config, { clock, logger: createLogger('silent') });
    try {
      expect(other.wechatpay.certificates.downloads).toBe(0);
      expect(other.wechatpay.certificates.held().sort()).toEqual(held());
      let n = notify();
      expect(other.wechatpay.verifyNotify(n.headers, n.body).kind).toBe('transaction');
      // This instance downloads a rotated certificate; the other one, told of the unknown serial, reads it from the database.
      aMinuteLater();
      sandbox.certificates.rotate();
      expect((await pay.certificates.refresh('test')).ok).toBe(true);
      n = notify();
      expect(() => other.wechatpay.verifyNotify(n.headers, n.body)).toThrow(/unknown-serial/);
      await other.wechatpay.certificates.settled();
      expect(other.wechatpay.certificates.downloads).toBe(0);
      expect(other.wechatpay.verifyNotify(n.headers, n.body).kind).toBe('transaction');
    } finally {
      await closeDeps(other);
    }
  });

  it('When a forger sprays unknown serials at two instances sharing the store, then only one of them downloads in a minute', async () => {
    const other = await openDeps(app.config, { clock, logger: createLogger('silent') });
    // On MariaDB + Redis the instances share Redis already; the embedded store is per process, so share it here.
    other.wechatpay.certificates.shareLimitThrough(app.deps.store);
    try {
      aMinuteLater();
      const before = pay.certificates.downloads + other.wechatpay.certificates.downloads;
      const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const forged = notify({ serial: '6CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC', key: forger });
      expect(verifies(forged)).toBe(false);
      expect(() => other.wechatpay.verifyNotify(forged.headers, forged.body)).toThrow(/unknown-serial/);
      await Promise.all([pay.certificates.settled(), other.wechatpay.certificates.settled()]);
      expect(pay.certificates.downloads + other.wechatpay.certificates.downloads).toBe(before + 1);
    } finally {
      await closeDeps(other);
    }
  });
});
