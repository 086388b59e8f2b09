import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { buildPiiConfig, type PiiConfig } from '../lib/pii/config';
import { buildLivenessConfig, type LivenessConfig } from '../providers/liveness/config';
import { type SandboxSecrets } from './sandbox-secrets';
import { type Settings, SettingsError } from './settings';

export type AppEnv = Settings['APP_ENV'];

export interface WechatConfig {
  /** 'sandbox' when no WECHAT_* setting is given: the in-process WeChat stands in for the real one. */
  mode: 'real' | 'sandbox';
  appId: string;
  appSecret: string;
  token: string;
  /** Safe mode (加密模式) is on exactly when this is set; the request never decides. */
  encodingAesKey?: string;
  apiBase: string;
  oauthAuthorizeUrl: string;
  mpVerifyCode?: string;
  replyDeadlineMs: number;
  /** Template ids of the order notices; in sandbox mode made-up ids the sandbox accepts. */
  templates?: { orderPaid?: string; transferRejected?: string; reviewResult?: string };
}

export interface CaConfig {
  /** 'sandbox': the built-in CA (created at first start, keys kept encrypted); 'ra': the real RA adapter. */
  mode: 'ra' | 'sandbox';
  ra?: { baseUrl: string; clientId: string; secret: string };
  /** Extra trusted roots (PEM bundle file); in sandbox mode the built-in CA's roots are trusted as well. */
  trustedRootsFile?: string;
  /** base64 of 32 bytes (a string: config is deep-frozen, and a Buffer cannot be). */
  keyEncryptionKey?: string;
}

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

export interface CertificatesConfig {
  projectsFile: string;
  bindExpiredGraceDays: number;
  keyAgentUrl: string;
}

export interface AppConfig {
  env: AppEnv;
  isProduction: boolean;
  port: number;
  host: string;
  publicBaseUrl: string;
  dataDir: string;
  database: { kind: 'mysql'; url: string; poolSize: number } | { kind: 'sqlite'; file: string };
  cache: { kind: 'redis'; url: string; prefix: string } | { kind: 'memory'; prefix: string };
  sessionSecret: string;
  /** How long a login holds before WeChat is asked again, however active the session (SESSION_ABSOLUTE_HOURS). */
  sessionAbsoluteMs: number;
  secureCookies: boolean;
  trustProxy: boolean;
  /** Koa's maxIpsCount: only the last this many X-Forwarded-For entries count (the ones our proxies appended). */
  trustProxyHops: number;
  logLevel: Settings['LOG_LEVEL'];
  metricsToken?: string;
  wechat: WechatConfig;
  ca: CaConfig;
  wechatpay: WechatPayConfig;
  certificates: CertificatesConfig;
  /** Handler liveness (Tencent Cloud FaceID or the sandbox). */
  liveness: LivenessConfig;
  /** Keys of the PII vault (ID numbers at rest). */
  pii: PiiConfig;
  /** 对公汇款: the account handlers transfer to (sandbox: a made-up one, marked as such on the page). */
  transfer: { payeeName: string; payeeBank: string; payeeAccount: string; sandbox: boolean };
}

const PRODUCTION_REQUIRED = [
  'PUBLIC_BASE_URL', 'DATABASE_URL', 'REDIS_URL', 'SESSION_SECRET', 'METRICS_TOKEN',
  'WECHAT_APPID', 'WECHAT_APPSECRET', 'WECHAT_TOKEN', 'WECHAT_ENCODING_AES_KEY',
  'CA_RA_BASE_URL', 'CA_RA_CLIENT_ID', 'CA_RA_SECRET', 'CA_TRUSTED_ROOTS_FILE',
] as const;
const CA_RA = ['CA_RA_BASE_URL', 'CA_RA_CLIENT_ID', 'CA_RA_SECRET'] as const;
const TRANSFER_PAYEE = ['TRANSFER_PAYEE_NAME', 'TRANSFER_PAYEE_BANK', 'TRANSFER_PAYEE_ACCOUNT'] as const;
/** A made-up payee for the sandbox: a wrong real-looking account on a page would send real money astray. */
const SANDBOX_PAYEE = { payeeName: '广东数安时代科技股份有限公司', payeeBank: '中国建设银行广州天河支行', payeeAccount: '4400 0000 0000 0000 0000' };
const WECHATPAY_REQUIRED = ['WECHATPAY_MCHID', 'WECHATPAY_SERIAL_NO', 'WECHATPAY_PRIVATE_KEY_FILE', 'WECHATPAY_APIV3_KEY', 'WECHATPAY_NOTIFY_URL'] as const;
const WECHATPAY_ANY = [
  ...WECHATPAY_REQUIRED, 'WECHATPAY_PUBLIC_KEY_FILE', 'WECHATPAY_PUBLIC_KEY_ID', 'WECHATPAY_PLATFORM_CERTS_FILE', 'WECHATPAY_API_BASE', 'WECHATPAY_API_BACKUP_BASE',
] as const;

/** The payment settings' own checks: all or none outside production, all in it, and at least one way to verify WeChat Pay. */
function wechatPayProblems(settings: Settings, isProduction: boolean): string[] {
  const problems: string[] = [];
  const realMode = isProduction || WECHATPAY_ANY.some((k) => settings[k] !== undefined);
  if (!realMode) return problems;
  const why = isProduction ? 'required when APP_ENV=production' : 'missing while other WECHATPAY_* settings are set (set all of them, or none for the sandbox WeChat Pay)';
  for (const name of WECHATPAY_REQUIRED) if (settings[name] === undefined) problems.push(`${name}: ${why}`);
  if ((settings.WECHATPAY_PUBLIC_KEY_FILE === undefined) !== (settings.WECHATPAY_PUBLIC_KEY_ID === undefined)) {
    problems.push('WECHATPAY_PUBLIC_KEY_FILE / WECHATPAY_PUBLIC_KEY_ID: set both (the key and the ID WeChat Pay sends in Wechatpay-Serial)');
  }
  if (settings.WECHATPAY_PLATFORM_CERTS === 'file' && settings.WECHATPAY_PLATFORM_CERTS_FILE === undefined) {
    problems.push('WECHATPAY_PLATFORM_CERTS_FILE: required with WECHATPAY_PLATFORM_CERTS=file (or use download)');
  }
  if (settings.WECHATPAY_PLATFORM_CERTS === 'off' && settings.WECHATPAY_PLATFORM_CERTS_FILE !== undefined) {
    problems.push('WECHATPAY_PLATFORM_CERTS: off contradicts WECHATPAY_PLATFORM_CERTS_FILE (use file or download, or drop the file)');
  }
  if (settings.WECHATPAY_PUBLIC_KEY_FILE === undefined && settings.WECHATPAY_PLATFORM_CERTS_FILE === undefined && settings.WECHATPAY_PLATFORM_CERTS !== 'download') {
    problems.push('WECHATPAY_PUBLIC_KEY_FILE: required (with WECHATPAY_PUBLIC_KEY_ID), or WECHATPAY_PLATFORM_CERTS_FILE, or WECHATPAY_PLATFORM_CERTS=download: nothing could verify WeChat Pay\'s signatures');
  }
  if (isProduction && settings.WECHATPAY_NOTIFY_URL && !settings.WECHATPAY_NOTIFY_URL.startsWith('https://')) {
    problems.push('WECHATPAY_NOTIFY_URL: must be https:// (WeChat Pay only notifies HTTPS addresses)');
  }
  return problems;
}
const WECHAT_IDENTITY = ['WECHAT_APPID', 'WECHAT_APPSECRET', 'WECHAT_TOKEN'] as const;

/** True when no WeChat identity is configured at all: the only way into sandbox mode. */
export function wantsSandbox(settings: Settings): boolean {
  return WECHAT_IDENTITY.every((k) => settings[k] === undefined) && settings.WECHAT_ENCODING_AES_KEY === undefined;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function isLoopbackUrl(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Turns validated settings into the frozen configuration the app runs on.
 * Production demands every real setting; a partly configured WeChat identity is an error everywhere,
 * since the only alternative (sandbox) would hide the mistake.
 */
export function buildConfig(settings: Settings, sandbox?: SandboxSecrets): AppConfig {
  const problems: string[] = [];
  const isProduction = settings.APP_ENV === 'production';
  const sandboxMode = wantsSandbox(settings);

  if (isProduction) {
    for (const name of PRODUCTION_REQUIRED) if (settings[name] === undefined) problems.push(`${name}: required when APP_ENV=production`);
    if (settings.PUBLIC_BASE_URL && !settings.PUBLIC_BASE_URL.startsWith('https://')) {
      problems.push('PUBLIC_BASE_URL: must be https:// when APP_ENV=production (WeChat OAuth and Pay demand it)');
    }
    // The process speaks plain HTTP, so https ends at a proxy; without trusting its X-Forwarded-Proto every
    // secure session cookie would be refused on the "unencrypted" connection.
    if (!settings.TRUST_PROXY) problems.push('TRUST_PROXY: must be true when APP_ENV=production (TLS ends at your load balancer; let only it reach the app)');
    // WECHAT_API_BASE receives the AppSecret, WECHATPAY_API_BASE signed payment calls: never over plain http
    // across a network. Loopback stays allowed (an egress proxy on the same host; the tests' WeChat doubles).
    for (const name of ['WECHAT_API_BASE', 'WECHAT_OAUTH_BASE', 'WECHATPAY_API_BASE', 'WECHATPAY_API_BACKUP_BASE'] as const) {
      const value = settings[name];
      if (value && !value.startsWith('https://') && !isLoopbackUrl(value)) problems.push(`${name}: must be https:// when APP_ENV=production`);
    }
  } else if (!sandboxMode) {
    for (const name of WECHAT_IDENTITY) {
      if (settings[name] === undefined) problems.push(`${name}: missing while other WECHAT_* settings are set (set all of them, or none for sandbox mode)`);
    }
  }
  const raMode = CA_RA.some((k) => settings[k] !== undefined);
  if (raMode && !isProduction) {
    for (const name of CA_RA) if (settings[name] === undefined) problems.push(`${name}: missing while other CA_RA_* settings are set (set all of them, or none for the built-in sandbox CA)`);
  }
  if (raMode && !settings.CA_TRUSTED_ROOTS_FILE) problems.push('CA_TRUSTED_ROOTS_FILE: required with the RA (which roots do presented certificates chain to?)');
  if (!raMode && !isProduction && !settings.CA_KEY_ENCRYPTION_KEY && !sandbox) problems.push('CA_KEY_ENCRYPTION_KEY: required for the built-in CA');
  if (sandboxMode && !sandbox && !isProduction) problems.push('internal: sandbox mode needs the sandbox secrets from DATA_DIR');
  if (!settings.SESSION_SECRET && !sandbox) problems.push('SESSION_SECRET: required (at least 32 characters)');
  problems.push(...wechatPayProblems(settings, isProduction));
  const payRealMode = isProduction || WECHATPAY_ANY.some((k) => settings[k] !== undefined);
  if (!payRealMode && !sandbox) problems.push('internal: the sandbox WeChat Pay needs the sandbox secrets from DATA_DIR');
  if (!payRealMode && settings.WECHATPAY_PLATFORM_CERTS === 'file') problems.push('WECHATPAY_PLATFORM_CERTS: the sandbox WeChat Pay supports download or off');
  const liveness = buildLivenessConfig(settings, sandbox, settings.PORT);
  const pii = buildPiiConfig(settings, sandbox);
  problems.push(...liveness.problems, ...pii.problems);
  const transferSet = TRANSFER_PAYEE.filter((k) => settings[k] !== undefined).length;
  if (isProduction || transferSet) {
    const why = isProduction ? 'required when APP_ENV=production' : 'missing while other TRANSFER_PAYEE_* settings are set (set all of them, or none for the sandbox payee)';
    for (const name of TRANSFER_PAYEE) if (settings[name] === undefined) problems.push(`${name}: ${why}`);
  }
  if (problems.length) throw new SettingsError(problems);

  const port = settings.PORT;
  const publicBaseUrl = (settings.PUBLIC_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const dataDir = resolve(settings.DATA_DIR);
  const secrets = sandboxMode ? sandbox! : undefined;
  const wechat: WechatConfig = {
    mode: sandboxMode ? 'sandbox' : 'real',
    appId: settings.WECHAT_APPID ?? secrets!.wechatAppId,
    appSecret: settings.WECHAT_APPSECRET ?? secrets!.wechatAppSecret,
    token: settings.WECHAT_TOKEN ?? secrets!.wechatToken,
    encodingAesKey: sandboxMode ? secrets!.wechatEncodingAesKey : settings.WECHAT_ENCODING_AES_KEY,
    // The sandbox WeChat API is mounted in this very process; it is reached over loopback like the real one.
    apiBase: (settings.WECHAT_API_BASE ?? (sandboxMode ? `http://127.0.0.1:${port}/sandbox/wechat-api` : 'https://api.weixin.qq.com')).replace(/\/+$/, ''),
    oauthAuthorizeUrl: settings.WECHAT_OAUTH_BASE
      ? `${settings.WECHAT_OAUTH_BASE.replace(/\/+$/, '')}/connect/oauth2/authorize`
      : sandboxMode ? `${publicBaseUrl}/sandbox/wechat-oauth/authorize` : 'https://open.weixin.qq.com/connect/oauth2/authorize',
    mpVerifyCode: settings.WECHAT_MP_VERIFY_CODE,
    replyDeadlineMs: settings.WECHAT_REPLY_DEADLINE_MS,
    templates: sandboxMode
      ? {
        orderPaid: settings.WECHAT_TEMPLATE_ORDER_PAID ?? 'sandbox-tpl-order-paid', transferRejected: settings.WECHAT_TEMPLATE_TRANSFER_REJECTED ?? 'sandbox-tpl-transfer-rejected',
        reviewResult: settings.WECHAT_TEMPLATE_REVIEW_RESULT ?? 'sandbox-tpl-review-result',
      }
      : { orderPaid: settings.WECHAT_TEMPLATE_ORDER_PAID, transferRejected: settings.WECHAT_TEMPLATE_TRANSFER_REJECTED, reviewResult: settings.WECHAT_TEMPLATE_REVIEW_RESULT },
  };

  const wechatpay: WechatPayConfig = payRealMode
    ? {
      mode: 'real',
      appId: wechat.appId,
      mchId: settings.WECHATPAY_MCHID!,
      serialNo: settings.WECHATPAY_SERIAL_NO!.toUpperCase(),
      privateKey: { file: resolve(settings.WECHATPAY_PRIVATE_KEY_FILE!) },
      apiV3Key: settings.WECHATPAY_APIV3_KEY!,
      publicKey: settings.WECHATPAY_PUBLIC_KEY_FILE ? { id: settings.WECHATPAY_PUBLIC_KEY_ID!, file: resolve(settings.WECHATPAY_PUBLIC_KEY_FILE) } : undefined,
      platformCertsFile: settings.WECHATPAY_PLATFORM_CERTS_FILE ? resolve(settings.WECHATPAY_PLATFORM_CERTS_FILE) : undefined,
      platformCerts: settings.WECHATPAY_PLATFORM_CERTS ?? (settings.WECHATPAY_PLATFORM_CERTS_FILE ? 'file' : 'off'),
      apiBase: (settings.WECHATPAY_API_BASE ?? WECHATPAY_PRIMARY).replace(/\/+$/, ''),
      apiBackupBase: settings.WECHATPAY_API_BACKUP_BASE?.replace(/\/+$/, '') ?? ((settings.WECHATPAY_API_BASE ?? WECHATPAY_PRIMARY).replace(/\/+$/, '') === WECHATPAY_PRIMARY ? WECHATPAY_BACKUP : null),
      notifyUrl: settings.WECHATPAY_NOTIFY_URL!,
    }
    : {
      mode: 'sandbox',
      appId: wechat.appId,
      mchId: sandbox!.wechatPayMchId,
      serialNo: sandbox!.wechatPayMerchantSerialNo,
      privateKey: { pem: sandbox!.wechatPayMerchantPrivateKey },
      apiV3Key: sandbox!.wechatPayApiV3Key,
      // WECHATPAY_PLATFORM_CERTS=download: the sandbox signs with platform certificates only and the app downloads them.
      publicKey: settings.WECHATPAY_PLATFORM_CERTS === 'download'
        ? undefined
        : { id: sandbox!.wechatPayPublicKeyId, pem: createPublicKey(sandbox!.wechatPayPlatformPrivateKey).export({ type: 'spki', format: 'pem' }).toString() },
      platformCerts: settings.WECHATPAY_PLATFORM_CERTS === 'download' ? 'download' : 'off',
      // Mounted in this very process and reached over loopback, like the sandbox WeChat API.
      apiBase: `http://127.0.0.1:${port}/sandbox/wechatpay`,
      apiBackupBase: null,
      notifyUrl: `${publicBaseUrl}/pay/wechat/notify`,
      sandboxPlatformPrivateKeyPem: sandbox!.wechatPayPlatformPrivateKey,
    };

  return deepFreeze({
    env: settings.APP_ENV,
    isProduction,
    port,
    host: settings.HOST,
    publicBaseUrl,
    dataDir,
    database: settings.DATABASE_URL
      ? { kind: 'mysql', url: settings.DATABASE_URL, poolSize: settings.DB_POOL_SIZE }
      : { kind: 'sqlite', file: resolve(dataDir, 'cam.sqlite') },
    cache: settings.REDIS_URL ? { kind: 'redis', url: settings.REDIS_URL, prefix: settings.REDIS_PREFIX } : { kind: 'memory', prefix: settings.REDIS_PREFIX },
    sessionSecret: settings.SESSION_SECRET ?? sandbox!.sessionSecret,
    sessionAbsoluteMs: settings.SESSION_ABSOLUTE_HOURS * 3600_000,
    secureCookies: publicBaseUrl.startsWith('https://'),
    trustProxy: settings.TRUST_PROXY ?? false,
    trustProxyHops: settings.TRUST_PROXY_HOPS,
    logLevel: settings.LOG_LEVEL,
    metricsToken: settings.METRICS_TOKEN,
    wechat,
    ca: raMode
      ? { mode: 'ra', ra: { baseUrl: settings.CA_RA_BASE_URL!.replace(/\/+$/, ''), clientId: settings.CA_RA_CLIENT_ID!, secret: settings.CA_RA_SECRET! }, trustedRootsFile: resolve(settings.CA_TRUSTED_ROOTS_FILE!) }
      : {
        mode: 'sandbox',
        trustedRootsFile: settings.CA_TRUSTED_ROOTS_FILE ? resolve(settings.CA_TRUSTED_ROOTS_FILE) : undefined,
        keyEncryptionKey: settings.CA_KEY_ENCRYPTION_KEY ?? sandbox!.caKeyEncryptionKey,
      },
    wechatpay,
    liveness: liveness.config!,
    pii: pii.config!,
    transfer: settings.TRANSFER_PAYEE_ACCOUNT
      ? { payeeName: settings.TRANSFER_PAYEE_NAME!, payeeBank: settings.TRANSFER_PAYEE_BANK!, payeeAccount: settings.TRANSFER_PAYEE_ACCOUNT, sandbox: false }
      : { ...SANDBOX_PAYEE, sandbox: true },
    certificates: {
      projectsFile: resolve(settings.CERT_PROJECTS_FILE),
      bindExpiredGraceDays: settings.BIND_EXPIRED_GRACE_DAYS,
      keyAgentUrl: settings.KEY_AGENT_URL.replace(/\/+$/, ''),
    },
  } satisfies AppConfig);
}
