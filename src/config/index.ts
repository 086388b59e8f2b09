import { resolve } from 'node:path';
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
  secureCookies: boolean;
  trustProxy: boolean;
  logLevel: Settings['LOG_LEVEL'];
  metricsToken?: string;
  wechat: WechatConfig;
  ca: CaConfig;
  certificates: CertificatesConfig;
}

const PRODUCTION_REQUIRED = [
  'PUBLIC_BASE_URL', 'DATABASE_URL', 'REDIS_URL', 'SESSION_SECRET', 'METRICS_TOKEN',
  'WECHAT_APPID', 'WECHAT_APPSECRET', 'WECHAT_TOKEN', 'WECHAT_ENCODING_AES_KEY',
  'CA_RA_BASE_URL', 'CA_RA_CLIENT_ID', 'CA_RA_SECRET', 'CA_TRUSTED_ROOTS_FILE',
] as const;
const CA_RA = ['CA_RA_BASE_URL', 'CA_RA_CLIENT_ID', 'CA_RA_SECRET'] as const;
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
    secureCookies: publicBaseUrl.startsWith('https://'),
    trustProxy: settings.TRUST_PROXY ?? false,
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
    certificates: {
      projectsFile: resolve(settings.CERT_PROJECTS_FILE),
      bindExpiredGraceDays: settings.BIND_EXPIRED_GRACE_DAYS,
      keyAgentUrl: settings.KEY_AGENT_URL.replace(/\/+$/, ''),
    },
  } satisfies AppConfig);
}
