import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, type WechatPayConfig } from '../../../../src/config';
import { ensureSandboxSecrets, generateSandboxSecrets } from '../../../../src/config/sandbox-secrets';
import { parseSettings } from '../../../../src/config/settings';
import { loadWechatPayKeys } from '../../../../src/providers/wechatpay/keys';
import { rsaSign, rsaVerify } from '../../../../src/providers/wechatpay/sign';
import { makeCa } from '../../../helpers/pki';
import { settingsProblems } from '../../../helpers/settings';

const secrets = generateSandboxSecrets();
const dir = mkdtempSync(join(tmpdir(), 'wxpay-keys-'));
const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const merchant = pair();
const wechat = pair();
writeFileSync(join(dir, 'apiclient_key.pem'), merchant.privateKey);
writeFileSync(join(dir, 'pub_key.pem'), wechat.publicKey);
writeFileSync(join(dir, 'not-a-key.pem'), 'hello');

const PAY = {
  WECHATPAY_MCHID: '1900007291',
  WECHATPAY_SERIAL_NO: '5dea10ef55877e3cf6c33255c2e7defff7e427ec',
  WECHATPAY_PRIVATE_KEY_FILE: join(dir, 'apiclient_key.pem'),
  WECHATPAY_APIV3_KEY: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
  WECHATPAY_PUBLIC_KEY_FILE: join(dir, 'pub_key.pem'),
  WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0114232134912410000000000000',
  WECHATPAY_NOTIFY_URL: 'https://ca.example.cn/pay/wechat/notify',
};
const base = { APP_ENV: 'test', DATA_DIR: dir };

const problemsOf = (fn: () => unknown): string => settingsProblems(fn).join('\n');

describe('WeChat Pay settings', () => {
  it('When no WECHATPAY_* is set, then the sandbox WeChat Pay is used, reached over loopback, in public-key mode', () => {
    const c = buildConfig(parseSettings(base), secrets).wechatpay;
    expect(c).toMatchObject({ mode: 'sandbox', mchId: secrets.wechatPayMchId, apiBase: 'http://127.0.0.1:3000/sandbox/wechatpay', notifyUrl: 'http://localhost:3000/pay/wechat/notify' });
    expect(c.publicKey?.id).toBe(secrets.wechatPayPublicKeyId);
    const keys = loadWechatPayKeys(c, Date.now());
    // The sandbox signs with its own key; the app verifies it through the public key in the config.
    const sig = rsaSign(createPrivateKey(secrets.wechatPayPlatformPrivateKey), 'x');
    expect(rsaVerify(keys.verifiers.get(secrets.wechatPayPublicKeyId)!, 'x', sig)).toBe(true);
  });

  it('When every WECHATPAY_* is set, then real mode reads them (serial upper-cased, WeChat Pay\'s own base URL by default)', () => {
    const c = buildConfig(parseSettings({ ...base, ...PAY }), secrets).wechatpay;
    expect(c).toMatchObject({ mode: 'real', mchId: '1900007291', serialNo: PAY.WECHATPAY_SERIAL_NO.toUpperCase(), apiBase: 'https://api.mch.weixin.qq.com', notifyUrl: PAY.WECHATPAY_NOTIFY_URL });
    const keys = loadWechatPayKeys(c, Date.now());
    expect(keys.verifiers.serials).toEqual([PAY.WECHATPAY_PUBLIC_KEY_ID]);
  });

  it('When WeChat Pay\'s own base is used, then its backup domain api2 is the failover; a custom base has none unless one is set', () => {
    expect(buildConfig(parseSettings({ ...base, ...PAY }), secrets).wechatpay.apiBackupBase).toBe('https://api2.mch.weixin.qq.com');
    expect(buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_API_BASE: 'https://pay-proxy.example.cn/' }), secrets).wechatpay.apiBackupBase).toBeNull();
    expect(buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_API_BASE: 'https://pay-proxy.example.cn', WECHATPAY_API_BACKUP_BASE: 'https://pay-proxy2.example.cn/' }), secrets).wechatpay)
      .toMatchObject({ apiBase: 'https://pay-proxy.example.cn', apiBackupBase: 'https://pay-proxy2.example.cn' });
    expect(buildConfig(parseSettings(base), secrets).wechatpay.apiBackupBase).toBeNull();
  });

  it('When only some WECHATPAY_* are set, then the start stops naming the missing ones', () => {
    const p = problemsOf(() => buildConfig(parseSettings({ ...base, WECHATPAY_MCHID: '1900007291' }), secrets));
    for (const name of ['WECHATPAY_SERIAL_NO', 'WECHATPAY_PRIVATE_KEY_FILE', 'WECHATPAY_APIV3_KEY', 'WECHATPAY_NOTIFY_URL', 'WECHATPAY_PUBLIC_KEY_FILE']) expect(p).toContain(name);
    expect(problemsOf(() => buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_PUBLIC_KEY_ID: undefined }), secrets))).toContain('WECHATPAY_PUBLIC_KEY_ID');
  });

  it('When production lacks WeChat Pay settings or notifies over http, then the start stops naming them', () => {
    const p = problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production' })));
    for (const name of ['WECHATPAY_MCHID', 'WECHATPAY_PRIVATE_KEY_FILE', 'WECHATPAY_APIV3_KEY', 'WECHATPAY_NOTIFY_URL']) expect(p).toContain(`${name}: required when APP_ENV=production`);
    expect(problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production', ...PAY, WECHATPAY_NOTIFY_URL: 'http://ca.example.cn/pay/wechat/notify' })))).toContain('WECHATPAY_NOTIFY_URL: must be https://');
  });

  it('When a WECHATPAY_ name is misspelt or a value malformed, then parsing refuses it by name', () => {
    expect(problemsOf(() => parseSettings({ WECHATPAY_APIV3KEY: 'x' }))).toContain('WECHATPAY_APIV3KEY: unknown setting');
    expect(problemsOf(() => parseSettings({ WECHATPAY_APIV3_KEY: 'a'.repeat(31) }))).toContain('WECHATPAY_APIV3_KEY');
    expect(problemsOf(() => parseSettings({ WECHATPAY_NOTIFY_URL: 'https://a.cn/n?x=1' }))).toContain('WECHATPAY_NOTIFY_URL');
    expect(problemsOf(() => parseSettings({ WECHATPAY_PUBLIC_KEY_ID: 'ABC' }))).toContain('WECHATPAY_PUBLIC_KEY_ID');
  });

  it('When a key file is missing or not a key, then loading the keys stops the start naming the setting', () => {
    const real = buildConfig(parseSettings({ ...base, ...PAY }), secrets).wechatpay;
    const withKey = (file: string): WechatPayConfig => ({ ...real, privateKey: { file } });
    expect(problemsOf(() => loadWechatPayKeys(withKey(join(dir, 'missing.pem')), Date.now()))).toContain('WECHATPAY_PRIVATE_KEY_FILE: cannot read');
    expect(problemsOf(() => loadWechatPayKeys(withKey(join(dir, 'not-a-key.pem')), Date.now()))).toContain('WECHATPAY_PRIVATE_KEY_FILE: not an RSA private key');
    expect(problemsOf(() => loadWechatPayKeys({ ...real, publicKey: { id: 'PUB_KEY_ID_1', file: join(dir, 'not-a-key.pem') } }, Date.now()))).toContain('WECHATPAY_PUBLIC_KEY_FILE');
  });

  it('When platform certificates are given, then valid ones are keyed by serial beside the public key and expired ones are left out', async () => {
    const valid = await makeCa('RSA-2048', 'Tenpay.com Root CA');
    const expired = await makeCa('RSA-2048', 'Old platform cert', { notBefore: new Date(Date.now() - 800 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    writeFileSync(join(dir, 'platform.pem'), `${valid.cert.pem}\n${expired.cert.pem}`);
    const real = buildConfig(parseSettings({ ...base, ...PAY, WECHATPAY_PLATFORM_CERTS_FILE: join(dir, 'platform.pem') }), secrets).wechatpay;
    const keys = loadWechatPayKeys(real, Date.now());
    const serial = new X509Certificate(valid.cert.pem).serialNumber.toUpperCase();
    expect(keys.verifiers.serials.sort()).toEqual([PAY.WECHATPAY_PUBLIC_KEY_ID, serial].sort());
    writeFileSync(join(dir, 'expired.pem'), expired.cert.pem);
    const onlyExpired = { ...real, publicKey: undefined, platformCertsFile: join(dir, 'expired.pem') };
    expect(problemsOf(() => loadWechatPayKeys(onlyExpired, Date.now()))).toContain('no currently valid platform certificate');
  });
});

describe('sandbox WeChat Pay secrets', () => {
  it('When DATA_DIR holds secrets from before WeChat Pay, then the merchant and WeChat Pay keys are added once and kept', () => {
    const data = mkdtempSync(join(tmpdir(), 'wxpay-secrets-'));
    const { wechatPayMchId: _a, wechatPayMerchantSerialNo: _b, wechatPayMerchantPrivateKey: _c, wechatPayApiV3Key: _d, wechatPayPlatformPrivateKey: _e, wechatPayPublicKeyId: _f, ...old } = generateSandboxSecrets();
    writeFileSync(join(data, 'sandbox-secrets.json'), JSON.stringify(old));
    const upgraded = ensureSandboxSecrets(data);
    expect(upgraded).toMatchObject(old);
    expect(upgraded.wechatPayApiV3Key).toHaveLength(32);
    expect(upgraded.wechatPayMchId).toMatch(/^\d{10}$/);
    expect(createPrivateKey(upgraded.wechatPayMerchantPrivateKey).asymmetricKeyType).toBe('rsa');
    expect(ensureSandboxSecrets(data)).toEqual(upgraded);
  });
});
