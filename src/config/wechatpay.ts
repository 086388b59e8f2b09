import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type Settings } from './settings';
import { across, type Context, IN_PRODUCTION, need, needOr, S, sandboxSecrets, trimSlashes } from './sections';

/** WeChat Pay's API and its backup domain for 跨城容灾 (both serve the same API and keys). */
const WECHATPAY_PRIMARY = 'https://api.mch.weixin.qq.com';
const WECHATPAY_BACKUP = 'https://api2.mch.weixin.qq.com';

export interface WechatPayConfig {
  /** 'sandbox' when no WECHATPAY_* setting is given: the in-process sandbox WeChat Pay at /sandbox/wechatpay. */
  mode: 'real' | 'sandbox';
  /** The AppID the merchant number is bound to: the Official Account's. */
  appId: string;
  mchId: string;
  serialNo: string;
  /** Real mode: files read (and checked) when the deps open; sandbox mode: PEMs from the sandbox secrets. */
  privateKey: { file: string } | { pem: string };
  apiV3Key: string;
  /** 微信支付公钥 and its ID (the sandbox runs in this mode unless WECHATPAY_PLATFORM_CERTS=download). */
  publicKey?: { id: string; file: string } | { id: string; pem: string };
  platformCertsFile?: string;
  /** WECHATPAY_PLATFORM_CERTS (inferred when unset: 'file' with a bundle, else 'off'). */
  platformCerts?: 'download' | 'file' | 'off';
  apiBase: string;
  /**
   * WeChat Pay's backup domain (api2.mch.weixin.qq.com, its 跨城容灾 entry): tried once when the primary cannot be
   * reached. Defaults to api2 when apiBase is WeChat Pay's own; null turns failover off (sandbox, custom bases).
   */
  apiBackupBase: string | null;
  notifyUrl: string;
  /** Sandbox only: the sandbox WeChat Pay's own signing key. */
  sandboxPlatformPrivateKeyPem?: string;
}

const WECHATPAY_ANY = [
  'WECHATPAY_MCHID', 'WECHATPAY_SERIAL_NO', 'WECHATPAY_PRIVATE_KEY_FILE', 'WECHATPAY_APIV3_KEY', 'WECHATPAY_NOTIFY_URL',
  'WECHATPAY_PUBLIC_KEY_FILE', 'WECHATPAY_PUBLIC_KEY_ID', 'WECHATPAY_PLATFORM_CERTS_FILE', 'WECHATPAY_API_BASE', 'WECHATPAY_API_BACKUP_BASE',
] as const;

/** The merchant's settings: all or none outside production, all in it, and at least one way to verify WeChat Pay. */
export function wechatPaySection(c: Context, settings: Settings): z.ZodType<WechatPayConfig> {
  // The merchant number is bound to the Official Account's AppID (the sandbox's in sandbox mode).
  // Worded as the WeChat section words it, so a missing AppID is reported once.
  const appId = needOr(c.wechatSandbox ? c.sandbox?.wechatAppId : undefined,
    c.isProduction ? IN_PRODUCTION : 'missing while other WECHAT_* settings are set (set all of them, or none for sandbox mode)');
  if (c.isProduction || WECHATPAY_ANY.some((k) => settings[k] !== undefined)) {
    const why = c.isProduction ? IN_PRODUCTION : 'missing while other WECHATPAY_* settings are set (set all of them, or none for the sandbox WeChat Pay)';
    return z.object({
      ...S,
      WECHAT_APPID: appId,
      WECHATPAY_MCHID: need(why), WECHATPAY_SERIAL_NO: need(why), WECHATPAY_PRIVATE_KEY_FILE: need(why), WECHATPAY_APIV3_KEY: need(why), WECHATPAY_NOTIFY_URL: need(why),
    })
      .refine((s) => (s.WECHATPAY_PUBLIC_KEY_FILE === undefined) === (s.WECHATPAY_PUBLIC_KEY_ID === undefined), across('WECHATPAY_PUBLIC_KEY_FILE / WECHATPAY_PUBLIC_KEY_ID',
        'set both (the key and the ID WeChat Pay sends in Wechatpay-Serial)'))
      .refine((s) => !(s.WECHATPAY_PLATFORM_CERTS === 'file' && s.WECHATPAY_PLATFORM_CERTS_FILE === undefined), across('WECHATPAY_PLATFORM_CERTS_FILE',
        'required with WECHATPAY_PLATFORM_CERTS=file (or use download)'))
      .refine((s) => !(s.WECHATPAY_PLATFORM_CERTS === 'off' && s.WECHATPAY_PLATFORM_CERTS_FILE !== undefined), across('WECHATPAY_PLATFORM_CERTS',
        'off contradicts WECHATPAY_PLATFORM_CERTS_FILE (use file or download, or drop the file)'))
      .refine((s) => s.WECHATPAY_PUBLIC_KEY_FILE !== undefined || s.WECHATPAY_PLATFORM_CERTS_FILE !== undefined || s.WECHATPAY_PLATFORM_CERTS === 'download', across('WECHATPAY_PUBLIC_KEY_FILE',
        'required (with WECHATPAY_PUBLIC_KEY_ID), or WECHATPAY_PLATFORM_CERTS_FILE, or WECHATPAY_PLATFORM_CERTS=download: nothing could verify WeChat Pay\'s signatures'))
      .refine((s) => !(c.isProduction && s.WECHATPAY_NOTIFY_URL && !s.WECHATPAY_NOTIFY_URL.startsWith('https://')), across('WECHATPAY_NOTIFY_URL',
        'must be https:// (WeChat Pay only notifies HTTPS addresses)'))
      .transform((s) => {
        const apiBase = trimSlashes(s.WECHATPAY_API_BASE ?? WECHATPAY_PRIMARY);
        return {
          mode: 'real' as const,
          appId: s.WECHAT_APPID,
          mchId: s.WECHATPAY_MCHID,
          serialNo: s.WECHATPAY_SERIAL_NO.toUpperCase(),
          privateKey: { file: resolve(s.WECHATPAY_PRIVATE_KEY_FILE) },
          apiV3Key: s.WECHATPAY_APIV3_KEY,
          publicKey: s.WECHATPAY_PUBLIC_KEY_FILE && s.WECHATPAY_PUBLIC_KEY_ID ? { id: s.WECHATPAY_PUBLIC_KEY_ID, file: resolve(s.WECHATPAY_PUBLIC_KEY_FILE) } : undefined,
          platformCertsFile: s.WECHATPAY_PLATFORM_CERTS_FILE ? resolve(s.WECHATPAY_PLATFORM_CERTS_FILE) : undefined,
          platformCerts: s.WECHATPAY_PLATFORM_CERTS ?? (s.WECHATPAY_PLATFORM_CERTS_FILE ? 'file' : 'off'),
          apiBase,
          apiBackupBase: s.WECHATPAY_API_BACKUP_BASE ? trimSlashes(s.WECHATPAY_API_BACKUP_BASE) : apiBase === WECHATPAY_PRIMARY ? WECHATPAY_BACKUP : null,
          notifyUrl: s.WECHATPAY_NOTIFY_URL,
        };
      });
  }
  return z.object({
    ...S,
    WECHAT_APPID: appId,
    sandbox: sandboxSecrets('the sandbox WeChat Pay'),
    WECHATPAY_PLATFORM_CERTS: S.WECHATPAY_PLATFORM_CERTS.refine((v) => v !== 'file', 'the sandbox WeChat Pay supports download or off'),
  }).transform(({ sandbox, ...s }) => ({
    mode: 'sandbox' as const,
    appId: s.WECHAT_APPID,
    mchId: sandbox.wechatPayMchId,
    serialNo: sandbox.wechatPayMerchantSerialNo,
    privateKey: { pem: sandbox.wechatPayMerchantPrivateKey },
    apiV3Key: sandbox.wechatPayApiV3Key,
    // WECHATPAY_PLATFORM_CERTS=download: the sandbox signs with platform certificates only and the app downloads them.
    publicKey: s.WECHATPAY_PLATFORM_CERTS === 'download'
      ? undefined
      : { id: sandbox.wechatPayPublicKeyId, pem: createPublicKey(sandbox.wechatPayPlatformPrivateKey).export({ type: 'spki', format: 'pem' }).toString() },
    platformCerts: s.WECHATPAY_PLATFORM_CERTS === 'download' ? 'download' as const : 'off' as const,
    // Mounted in this very process and reached over loopback, like the sandbox WeChat API.
    apiBase: `http://127.0.0.1:${c.port}/sandbox/wechatpay`,
    apiBackupBase: null,
    notifyUrl: `${c.publicBaseUrl}/pay/wechat/notify`,
    sandboxPlatformPrivateKeyPem: sandbox.wechatPayPlatformPrivateKey,
  }));
}

