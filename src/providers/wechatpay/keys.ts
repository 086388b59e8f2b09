import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type WechatPayConfig } from '../../config';
import { SettingsError } from '../../config/settings';
import { WechatPayKeyRing } from './sign';

export interface WechatPayKeys {
  merchantPrivateKey: KeyObject;
  /** Everything that may verify WeChat Pay, by Wechatpay-Serial. */
  verifiers: WechatPayKeyRing;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function read(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SettingsError([`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
}

function parse<T>(setting: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new SettingsError([`${setting}: not ${what} (${(err as Error).message})`]);
  }
}

/**
 * Reads and checks the key files once at start, so a wrong file stops the start naming its setting instead of
 * failing at the first payment. Expired platform certificates are left out; none left means nothing verifies.
 */
export function loadWechatPayKeys(config: WechatPayConfig, nowMs: number, clockNowMs: () => number = Date.now): WechatPayKeys {
  const pkPem = 'pem' in config.privateKey ? config.privateKey.pem : read('WECHATPAY_PRIVATE_KEY_FILE', config.privateKey.file);
  const merchantPrivateKey = parse('WECHATPAY_PRIVATE_KEY_FILE', 'an RSA private key (apiclient_key.pem)', () => {
    const key = createPrivateKey(pkPem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`${key.asymmetricKeyType} key`);
    return key;
  });
  const verifiers = new WechatPayKeyRing(clockNowMs);
  if (config.publicKey) {
    const pem = 'pem' in config.publicKey ? config.publicKey.pem : read('WECHATPAY_PUBLIC_KEY_FILE', config.publicKey.file);
    verifiers.add(config.publicKey.id, parse('WECHATPAY_PUBLIC_KEY_FILE', 'an RSA public key (pub_key.pem)', () => createPublicKey(pem)));
  }
  if (config.platformCertsFile) {
    const blocks = read('WECHATPAY_PLATFORM_CERTS_FILE', config.platformCertsFile).match(CERT_BLOCK) ?? [];
    const valid = blocks.filter((pem) => parse('WECHATPAY_PLATFORM_CERTS_FILE', 'a PEM bundle of certificates', () => verifiers.addCertificate(pem, nowMs)));
    if (!valid.length && !config.publicKey && config.platformCerts !== 'download') {
      throw new SettingsError([`WECHATPAY_PLATFORM_CERTS_FILE: no currently valid platform certificate in ${config.platformCertsFile}`]);
    }
  }
  return { merchantPrivateKey, verifiers };
}
