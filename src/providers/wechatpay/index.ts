import { createPrivateKey, createPublicKey } from 'node:crypto';
import { type WechatPayConfig } from '../../config';
import { type Clock, type Random } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { loadWechatPayKeys } from './keys';
import { createNotifyVerifier, type NotifyVerifier } from './notify-verifier';
import { PlatformCertificateKeeper } from './platform-certificates';
import { createWechatPayClient } from './real';
import { SandboxWechatPayState } from './sandbox-state';
import { type JsapiPayParams } from './sign';
import { type WechatPayClient } from './types';

export { NotifyRefused, type NotifyRefusalReason, type VerifiedNotify } from './notify-verifier';
export { type JsapiPayParams } from './sign';
export { type PlatformCertificate } from './certificates';
export { PlatformCertificateKeeper, type PlatformCertsMode, type RefreshResult } from './platform-certificates';
export * from './types';

/** What the app gets as deps.wechatpay: the outgoing calls plus the notify verifier, built from the same keys. */
export interface WechatPay extends WechatPayClient {
  /** Verify + decrypt a notify over its raw body; throws NotifyRefused (reason: bad-signature, unknown-serial, stale, bad-ciphertext, malformed). */
  verifyNotify: NotifyVerifier;
  /** The platform certificates in the shared key ring: attach(db) after the database opens, start() once listening. */
  certificates: PlatformCertificateKeeper;
}

export interface CreateWechatPayOptions {
  config: WechatPayConfig;
  clock: Clock;
  random: Random;
  logger: Logger;
  fetch?: typeof fetch;
}

/**
 * Reads and checks the keys (a bad file throws SettingsError naming the setting), then builds client, verifier
 * and certificate keeper around ONE key ring (public key, file bundle, downloaded certificates by serial).
 */
export function createWechatPay(opts: CreateWechatPayOptions): WechatPay {
  const { config, clock, logger } = opts;
  const keys = loadWechatPayKeys(config, clock.nowMs(), () => clock.nowMs());
  // The keeper downloads through the client, and the client asks the keeper about unknown serials.
  let keeper: PlatformCertificateKeeper | undefined;
  const client = createWechatPayClient({ ...opts, keys, onUnknownSerial: (serial) => keeper!.onUnknownSerial(serial) });
  keeper = new PlatformCertificateKeeper({
    mode: config.platformCerts ?? (config.platformCertsFile ? 'file' : 'off'),
    mchId: config.mchId,
    ring: keys.verifiers,
    download: () => client.downloadCertificates(),
    clock,
    logger,
  });
  const onUnknownSerial = (serial: string) => void keeper!.onUnknownSerial(serial);
  return Object.assign(client, {
    verifyNotify: createNotifyVerifier({ keys: keys.verifiers, apiV3Key: config.apiV3Key, clock, onUnknownSerial }),
    certificates: keeper,
  });
}

/** The sandbox WeChat Pay for the configured sandbox merchant (sandbox mode only). */
export function createSandboxWechatPayState(config: WechatPayConfig, logger: Logger, clock: Clock): SandboxWechatPayState {
  if (config.mode !== 'sandbox' || !config.sandboxPlatformPrivateKeyPem || !('pem' in config.privateKey)) {
    throw new Error('the sandbox WeChat Pay needs sandbox-mode WeChat Pay settings');
  }
  return new SandboxWechatPayState({
    appId: config.appId,
    mchId: config.mchId,
    merchantName: '数安CA管家（沙箱商户）',
    merchantSerialNo: config.serialNo,
    merchantPublicKey: createPublicKey(config.privateKey.pem),
    apiV3Key: config.apiV3Key,
    platformPrivateKey: createPrivateKey(config.sandboxPlatformPrivateKeyPem),
    publicKeyId: config.publicKey?.id,
  }, logger, () => clock.nowMs());
}

/**
 * Sandbox mode: where the H5 page sends the user instead of calling WeixinJSBridge. The cashier checks the
 * paySign like WeChat does, and after 确认支付 / 取消 redirects to returnUrl (under PUBLIC_BASE_URL) with
 * `wechatpay=ok|cancel` added — the equivalent of get_brand_wcpay_request:ok / :cancel, and no more proof of payment.
 */
export function sandboxCashierUrl(publicBaseUrl: string, params: JsapiPayParams, returnUrl: string): string {
  const q = new URLSearchParams({ ...params, return_url: returnUrl });
  return `${publicBaseUrl}/sandbox/wechatpay/cashier?${q.toString()}`;
}
