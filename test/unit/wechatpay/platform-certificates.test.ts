import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { buildConfig } from '../../../src/config';
import { generateSandboxSecrets } from '../../../src/config/sandbox-secrets';
import { parseSettings, SettingsError } from '../../../src/config/settings';
import { createLogger } from '../../../src/lib/logger';
import { decryptCertificateList, parsePlatformCertificate } from '../../../src/providers/wechatpay/certificates';
import { createNotifyVerifier, NotifyRefused } from '../../../src/providers/wechatpay/notify-verifier';
import { SandboxPlatformCertificates } from '../../../src/providers/wechatpay/sandbox-certificates';
import { SandboxWechatPayState } from '../../../src/providers/wechatpay/sandbox-state';
import { aesGcmEncrypt, WechatPayKeyRing } from '../../../src/providers/wechatpay/sign';
import { WechatPayError } from '../../../src/providers/wechatpay/types';
import { makeCa } from '../../helpers/pki';

/** Pure parts of platform-certificate mode: the /v3/certificates decryption and checks, the key ring's validity. */
const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
let now = Date.now();
const clock = () => now;
const platformKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const certs = new SandboxPlatformCertificates(platformKey, clock);

const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

describe('WeChat Pay platform certificates (pure)', () => {
  it('When a /v3/certificates answer is decrypted with the APIv3 key, then each certificate is an X.509 by Tenpay.com Root CA with the listed serial and the platform key', async () => {
    const list = decryptCertificateList(await certs.listJson(API_V3_KEY), API_V3_KEY);
    expect(list).toHaveLength(1);
    expect(list[0].serialNo).toBe(certs.signer.serialNo);
    const x = new X509Certificate(list[0].pem);
    expect(x.issuer).toContain('CN=Tenpay.com Root CA');
    expect(x.serialNumber.toUpperCase()).toBe(certs.signer.serialNo);
    expect(list[0].publicKey.export({ type: 'spki', format: 'pem' })).toBe(createPublicKey(platformKey).export({ type: 'spki', format: 'pem' }));
    expect(list[0].notAfterMs).toBeGreaterThan(now + 4 * 365 * 86400_000);
  });

  it('When a certificate\'s GCM tag is broken, or the APIv3 key is another, then the whole answer is refused', async () => {
    const tampered = await certs.listJson(API_V3_KEY, true);
    expect(errorOf(() => decryptCertificateList(tampered, API_V3_KEY))).toBeInstanceOf(WechatPayError);
    expect(errorOf(() => decryptCertificateList(tampered, API_V3_KEY)).message).toMatch(/does not decrypt and authenticate/);
    const good = await certs.listJson(API_V3_KEY);
    expect(errorOf(() => decryptCertificateList(good, 'b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb')).message).toMatch(/does not decrypt/);
    expect(errorOf(() => decryptCertificateList({ data: 'x' }, API_V3_KEY)).message).toMatch(/no data array/);
  });

  it('When the decrypted certificate has another serial than serial_no, or another issuer than Tenpay.com Root CA, then it is refused', async () => {
    const pem = await certs.signer.pem;
    expect(errorOf(() => parsePlatformCertificate(pem, '1234567890ABCDEF')).message).toMatch(/differs from serial_no/);
    const stranger = await makeCa('RSA-2048', 'Not Tenpay Root');
    const serial = new X509Certificate(stranger.cert.pem).serialNumber;
    expect(errorOf(() => parsePlatformCertificate(stranger.cert.pem, serial)).message).toMatch(/not issued by Tenpay.com Root CA/);
    const nonce = 'abcdefghijkl';
    const forged = { data: [{ serial_no: serial, encrypt_certificate: { algorithm: 'AEAD_AES_256_GCM', nonce, associated_data: 'certificate', ciphertext: aesGcmEncrypt(API_V3_KEY, nonce, 'certificate', stranger.cert.pem) } }] };
    expect(errorOf(() => decryptCertificateList(forged, API_V3_KEY)).message).toMatch(/Tenpay.com Root CA/);
  });

  it('When a rotation happens, then both certificates are listed until the old one expires, and then only the new one', async () => {
    const old = certs.signer;
    const next = certs.rotate({ notAfterMs: old.notAfterMs + 86400_000 });
    expect(certs.signer).toBe(next);
    expect(decryptCertificateList(await certs.listJson(API_V3_KEY), API_V3_KEY).map((c) => c.serialNo)).toEqual([old.serialNo, next.serialNo]);
    now = old.notAfterMs + 1;
    expect(decryptCertificateList(await certs.listJson(API_V3_KEY), API_V3_KEY).map((c) => c.serialNo)).toEqual([next.serialNo]);
    now = Date.now();
  });

  it('When a certificate in the ring expires, then lookups stop finding it at once and prune drops it; the public key stays', async () => {
    let t = Date.now();
    const ring = new WechatPayKeyRing(() => t);
    const c = certs.issue(undefined, { notBeforeMs: t - 1000, notAfterMs: t + 60_000 });
    expect(ring.addCertificate(await c.pem, t, 'download')).toBe(true);
    ring.add('PUB_KEY_ID_0114', createPublicKey(platformKey));
    expect(ring.get(c.serialNo)).toBeDefined();
    t += 61_000;
    expect(ring.get(c.serialNo)).toBeUndefined();
    expect(ring.prune()).toEqual([c.serialNo]);
    expect(ring.serials).toEqual(['PUB_KEY_ID_0114']);
    expect(ring.get('pub_key_id_0114')).toBeDefined();
  });

  it('When the ring holds the 微信支付公钥 and a platform certificate, then notifies signed either way verify (a mode switch needs no downtime)', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const state = new SandboxWechatPayState({
      appId: 'wx1234567890abcdef', mchId: '1900007291', merchantName: 'm', merchantSerialNo: 'ABCDEF0123', merchantPublicKey: createPublicKey(key),
      apiV3Key: API_V3_KEY, platformPrivateKey: platformKey, publicKeyId: 'PUB_KEY_ID_0114232134912410000000000000',
    }, createLogger('silent'), clock);
    const ring = new WechatPayKeyRing(clock).add('PUB_KEY_ID_0114232134912410000000000000', createPublicKey(platformKey));
    ring.addCertificate(await state.certificates.signer.pem, now, 'download');
    const unknown: string[] = [];
    const verify = createNotifyVerifier({ keys: ring, apiV3Key: API_V3_KEY, clock: { nowMs: clock }, onUnknownSerial: (s) => unknown.push(s) });
    const tx = { out_trade_no: 'R1', trade_state: 'SUCCESS' };
    const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    const byKey = state.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', tx);
    expect(byKey.headers['Wechatpay-Serial']).toMatch(/^PUB_KEY_ID_/);
    expect(verify(lower(byKey.headers), byKey.body).kind).toBe('transaction');
    state.signWith = 'certificate';
    const byCert = state.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', tx);
    expect(byCert.headers['Wechatpay-Serial']).toBe(state.certificates.signer.serialNo);
    expect(verify(lower(byCert.headers), byCert.body).kind).toBe('transaction');
    expect(unknown).toEqual([]);
    const rotated = state.certificates.rotate();
    const byNew = state.buildNotify('TRANSACTION.SUCCESS', '支付成功', 'transaction', tx);
    expect(() => verify(lower(byNew.headers), byNew.body)).toThrow(NotifyRefused);
    expect(unknown).toEqual([rotated.serialNo]);
  });
});

describe('WECHATPAY_PLATFORM_CERTS setting', () => {
  const secrets = generateSandboxSecrets();
  const base = { APP_ENV: 'test', DATA_DIR: '/tmp' };
  const PAY = {
    WECHATPAY_MCHID: '1900007291', WECHATPAY_SERIAL_NO: '5dea10ef55877e3cf6c33255c2e7defff7e427ec', WECHATPAY_PRIVATE_KEY_FILE: '/tmp/k.pem',
    WECHATPAY_APIV3_KEY: API_V3_KEY, WECHATPAY_NOTIFY_URL: 'https://ca.example.cn/pay/wechat/notify',
  };
  const problems = (env: Record<string, string>) => {
    const err = errorOf(() => buildConfig(parseSettings({ ...base, ...env }), secrets));
    return err instanceof SettingsError ? err.problems.join('\n') : '';
  };

  it('When download is chosen, then neither a public key nor a bundle is required; file needs its bundle; off contradicts a bundle; other values are refused', () => {
    expect(buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_PLATFORM_CERTS: 'download' }), secrets).wechatpay).toMatchObject({ mode: 'real', platformCerts: 'download', publicKey: undefined });
    expect(problems({ ...PAY })).toMatch(/WECHATPAY_PLATFORM_CERTS=download/);
    expect(problems({ ...PAY, WECHATPAY_PLATFORM_CERTS: 'file' })).toMatch(/WECHATPAY_PLATFORM_CERTS_FILE: required with WECHATPAY_PLATFORM_CERTS=file/);
    expect(problems({ ...PAY, WECHATPAY_PLATFORM_CERTS: 'off', WECHATPAY_PLATFORM_CERTS_FILE: '/tmp/p.pem' })).toMatch(/off contradicts/);
    expect(errorOf(() => parseSettings({ ...base, WECHATPAY_PLATFORM_CERTS: 'auto' }))).toBeInstanceOf(SettingsError);
    expect(buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_PLATFORM_CERTS_FILE: '/tmp/p.pem' }), secrets).wechatpay.platformCerts).toBe('file');
  });

  it('When the sandbox is asked for download mode, then it runs on platform certificates only (no public key); file is refused there', () => {
    const c = buildConfig(parseSettings({ ...base, WECHATPAY_PLATFORM_CERTS: 'download' }), secrets).wechatpay;
    expect(c).toMatchObject({ mode: 'sandbox', platformCerts: 'download', publicKey: undefined });
    expect(createPrivateKey(c.sandboxPlatformPrivateKeyPem!).asymmetricKeyType).toBe('rsa');
    expect(buildConfig(parseSettings(base), secrets).wechatpay).toMatchObject({ mode: 'sandbox', platformCerts: 'off' });
    expect(problems({ WECHATPAY_PLATFORM_CERTS: 'file' })).toMatch(/sandbox WeChat Pay supports download or off/);
  });
});
