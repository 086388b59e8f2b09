import { resolve } from 'node:path';
import { z } from 'zod';
import { type DatabaseLocation } from '../lib/db/data-source';
import { buildPiiConfig, type PiiConfig } from '../lib/pii/config';
import { livenessSection } from '../providers/liveness/config';
import { renewalsSection } from './renewals';
import { consoleSection } from './console';
import { type SandboxSecrets } from './sandbox-secrets';
import { fromBuilder, IN_PRODUCTION, need, needOr, parseSections, S, sandboxSecrets, trimSlashes, type Context } from './sections';
import { type Settings } from './settings';
import { wechatPaySection } from './wechatpay';
import { einvoiceSection } from '../providers/einvoice/config';
import { mailSection } from '../providers/mail/config';
import { smsSection } from '../providers/sms/config';
import { remindersSection } from './reminders';

export { type WechatPayConfig } from './wechatpay';

/*
 * Settings (validated one by one in settings.ts) → the frozen configuration the app runs on. Each section below
 * (WeChat Pay's in wechatpay.ts, liveness's in its provider, the helpers in sections.ts) is one zod schema over the parsed settings whose
 * output is that section's final shape: what a mode requires is a required key there (`need(why)`), so nothing
 * optional is left for the code to assert away.
 *
 * Adding a setting: declare and validate it in settings.ts, then add one line to its section's output (every
 * section reads all settings: `z.object({ ...S, … })`), plus its field in the section's interface where there is
 * one (WechatConfig, CaConfig, WechatPayConfig). Required in some mode: override it there with `need(why)`.
 * A check across settings: `.refine((s) => ok, across('NAME', 'message'))` on the section.
 */

export type AppEnv = Settings['APP_ENV'];

/** Redis, or the in-process store of the embedded default. */
export type CacheLocation = { kind: 'redis'; url: string; prefix: string } | { kind: 'memory'; prefix: string };

function isLoopbackUrl(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** In production, an outside address must be https:// (plain http only to loopback). */
function secureInProduction<T extends z.ZodType<string | undefined>>(c: Context, schema: T) {
  return c.isProduction ? schema.refine((v) => v === undefined || v.startsWith('https://') || isLoopbackUrl(v), 'must be https:// when APP_ENV=production') : schema;
}

/** The process itself: where it listens and is reached, its database and store, sessions, logs. */
function serverSection(c: Context) {
  const inProduction = <T extends z.ZodType>(otherwise: T) => (c.isProduction ? need(IN_PRODUCTION) : otherwise);
  return z.object({
    ...S,
    PUBLIC_BASE_URL: c.isProduction
      ? need(IN_PRODUCTION).refine((v) => v.startsWith('https://'), 'must be https:// when APP_ENV=production (WeChat OAuth and Pay demand it)')
      : S.PUBLIC_BASE_URL,
    DATABASE_URL: inProduction(S.DATABASE_URL),
    REDIS_URL: inProduction(S.REDIS_URL),
    METRICS_TOKEN: inProduction(S.METRICS_TOKEN),
    SESSION_SECRET: needOr(c.isProduction ? undefined : c.sandbox?.sessionSecret, c.isProduction ? IN_PRODUCTION : 'required (at least 32 characters)'),
    // The process speaks plain HTTP, so https ends at a proxy; without trusting its X-Forwarded-Proto every
    // secure session cookie would be refused on the "unencrypted" connection.
    TRUST_PROXY: c.isProduction
      ? z.literal(true, { error: 'must be true when APP_ENV=production (TLS ends at your load balancer; let only it reach the app)' })
      : S.TRUST_PROXY,
    // WECHAT_API_BASE receives the AppSecret, WECHATPAY_API_BASE signed payment calls: never over plain http
    // across a network. Loopback stays allowed (an egress proxy on the same host; the tests' WeChat doubles).
    WECHAT_API_BASE: secureInProduction(c, S.WECHAT_API_BASE),
    WECHAT_OAUTH_BASE: secureInProduction(c, S.WECHAT_OAUTH_BASE),
    WECHATPAY_API_BASE: secureInProduction(c, S.WECHATPAY_API_BASE),
    WECHATPAY_API_BACKUP_BASE: secureInProduction(c, S.WECHATPAY_API_BACKUP_BASE),
  }).transform((s) => {
    const dataDir = resolve(s.DATA_DIR);
    const database: DatabaseLocation = s.DATABASE_URL
      ? { kind: 'mysql', url: s.DATABASE_URL, poolSize: s.DB_POOL_SIZE }
      : { kind: 'sqlite', file: resolve(dataDir, 'cam.sqlite') };
    const cache: CacheLocation = s.REDIS_URL ? { kind: 'redis', url: s.REDIS_URL, prefix: s.REDIS_PREFIX } : { kind: 'memory', prefix: s.REDIS_PREFIX };
    return {
      env: s.APP_ENV,
      isProduction: c.isProduction,
      /**
       * Sandbox mode, decided once (no WeChat identity configured, never in production): the in-process WeChat
       * stands in, sandbox rows (users, bindings, handlers…) count, pages wear the sandbox banner.
       */
      sandbox: c.wechatSandbox,
      port: s.PORT,
      host: s.HOST,
      publicBaseUrl: c.publicBaseUrl,
      dataDir,
      database,
      cache,
      sessionSecret: s.SESSION_SECRET,
      /** How long a login holds before WeChat is asked again, however active the session (SESSION_ABSOLUTE_HOURS). */
      sessionAbsoluteMs: s.SESSION_ABSOLUTE_HOURS * 3600_000,
      secureCookies: c.publicBaseUrl.startsWith('https://'),
      trustProxy: s.TRUST_PROXY ?? false,
      /** Koa's maxIpsCount: only the last this many X-Forwarded-For entries count (the ones our proxies appended). */
      trustProxyHops: s.TRUST_PROXY_HOPS,
      logLevel: s.LOG_LEVEL,
      metricsToken: s.METRICS_TOKEN,
    };
  });
}

const WECHAT_IDENTITY = ['WECHAT_APPID', 'WECHAT_APPSECRET', 'WECHAT_TOKEN'] as const;

/** True when no WeChat identity is configured at all: the only way into sandbox mode. */
export function wantsSandbox(settings: Settings): boolean {
  return WECHAT_IDENTITY.every((k) => settings[k] === undefined) && settings.WECHAT_ENCODING_AES_KEY === undefined;
}

export interface WechatConfig {
  /** 'sandbox' when no WECHAT_* setting is given: the in-process sandbox WeChat stands in for the real one. */
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
  /** Customer service is staffed: a user's 人工 message is handed to it (transfer_customer_service). */
  customerServiceStaffed?: boolean;
  /** Template ids of the order notices; in sandbox mode made-up ids the sandbox accepts. */
  templates?: { orderPaid?: string; transferRejected?: string; reviewResult?: string; invoiceIssued?: string; certRenewed?: string };
}

/** The WeChat identity: all of it outside sandbox mode (a partly configured one is an error, never the sandbox). */
function wechatSection(c: Context): z.ZodType<WechatConfig> {
  const toConfig = (identity: Pick<WechatConfig, 'appId' | 'appSecret' | 'token' | 'encodingAesKey'>, s: Settings): WechatConfig => ({
    mode: c.wechatSandbox ? 'sandbox' : 'real',
    appId: identity.appId,
    appSecret: identity.appSecret,
    token: identity.token,
    encodingAesKey: identity.encodingAesKey,
    // The sandbox WeChat API is mounted in this very process; it is reached over loopback like the real one.
    apiBase: trimSlashes(s.WECHAT_API_BASE ?? (c.wechatSandbox ? `http://127.0.0.1:${c.port}/sandbox/wechat-api` : 'https://api.weixin.qq.com')),
    oauthAuthorizeUrl: s.WECHAT_OAUTH_BASE
      ? `${trimSlashes(s.WECHAT_OAUTH_BASE)}/connect/oauth2/authorize`
      : c.wechatSandbox ? `${c.publicBaseUrl}/sandbox/wechat-oauth/authorize` : 'https://open.weixin.qq.com/connect/oauth2/authorize',
    mpVerifyCode: s.WECHAT_MP_VERIFY_CODE,
    replyDeadlineMs: s.WECHAT_REPLY_DEADLINE_MS,
    customerServiceStaffed: s.WECHAT_CS_STAFFED,
    templates: c.wechatSandbox
      ? {
        orderPaid: s.WECHAT_TEMPLATE_ORDER_PAID ?? 'sandbox-tpl-order-paid', transferRejected: s.WECHAT_TEMPLATE_TRANSFER_REJECTED ?? 'sandbox-tpl-transfer-rejected',
        reviewResult: s.WECHAT_TEMPLATE_REVIEW_RESULT ?? 'sandbox-tpl-review-result',
        invoiceIssued: s.WECHAT_TEMPLATE_INVOICE_ISSUED ?? 'sandbox-tpl-invoice-issued',
        certRenewed: s.WECHAT_TEMPLATE_CERT_RENEWED ?? 'sandbox-tpl-cert-renewed',
      }
      : {
        orderPaid: s.WECHAT_TEMPLATE_ORDER_PAID, transferRejected: s.WECHAT_TEMPLATE_TRANSFER_REJECTED, reviewResult: s.WECHAT_TEMPLATE_REVIEW_RESULT,
        invoiceIssued: s.WECHAT_TEMPLATE_INVOICE_ISSUED, certRenewed: s.WECHAT_TEMPLATE_CERT_RENEWED,
      },
  });
  if (c.wechatSandbox) {
    return z.object({ ...S, sandbox: sandboxSecrets('sandbox mode') }).transform(({ sandbox, ...s }) => toConfig({
      appId: sandbox.wechatAppId, appSecret: sandbox.wechatAppSecret, token: sandbox.wechatToken, encodingAesKey: sandbox.wechatEncodingAesKey,
    }, s));
  }
  const why = c.isProduction ? IN_PRODUCTION : 'missing while other WECHAT_* settings are set (set all of them, or none for sandbox mode)';
  return z.object({
    ...S,
    WECHAT_APPID: need(why), WECHAT_APPSECRET: need(why), WECHAT_TOKEN: need(why),
    WECHAT_ENCODING_AES_KEY: c.isProduction ? need(IN_PRODUCTION) : S.WECHAT_ENCODING_AES_KEY,
  }).transform((s) => toConfig({ appId: s.WECHAT_APPID, appSecret: s.WECHAT_APPSECRET, token: s.WECHAT_TOKEN, encodingAesKey: s.WECHAT_ENCODING_AES_KEY }, s));
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

const CA_RA = ['CA_RA_BASE_URL', 'CA_RA_CLIENT_ID', 'CA_RA_SECRET'] as const;

/** The RA when any CA_RA_* setting is given (always in production), else the built-in CA. */
function caSection(c: Context, settings: Settings): z.ZodType<CaConfig> {
  if (c.isProduction || CA_RA.some((k) => settings[k] !== undefined)) {
    const why = c.isProduction ? IN_PRODUCTION : 'missing while other CA_RA_* settings are set (set all of them, or none for the built-in sandbox CA)';
    return z.object({
      ...S,
      CA_RA_BASE_URL: need(why), CA_RA_CLIENT_ID: need(why), CA_RA_SECRET: need(why),
      CA_TRUSTED_ROOTS_FILE: need(c.isProduction ? IN_PRODUCTION : 'required with the RA (which roots do presented certificates chain to?)'),
    }).transform((s) => ({
      mode: 'ra' as const,
      ra: { baseUrl: trimSlashes(s.CA_RA_BASE_URL), clientId: s.CA_RA_CLIENT_ID, secret: s.CA_RA_SECRET },
      trustedRootsFile: resolve(s.CA_TRUSTED_ROOTS_FILE),
    }));
  }
  return z.object({
    ...S,
    CA_KEY_ENCRYPTION_KEY: needOr(c.sandbox?.caKeyEncryptionKey, 'required for the built-in CA'),
  }).transform((s) => ({
    mode: 'sandbox' as const,
    trustedRootsFile: s.CA_TRUSTED_ROOTS_FILE ? resolve(s.CA_TRUSTED_ROOTS_FILE) : undefined,
    keyEncryptionKey: s.CA_KEY_ENCRYPTION_KEY,
  }));
}

/** A made-up payee for the sandbox: a wrong real-looking account on a page would send real money astray. */
const SANDBOX_PAYEE = { payeeName: '广东数安时代科技股份有限公司', payeeBank: '中国建设银行广州天河支行', payeeAccount: '4400 0000 0000 0000 0000' };
const TRANSFER_PAYEE = ['TRANSFER_PAYEE_NAME', 'TRANSFER_PAYEE_BANK', 'TRANSFER_PAYEE_ACCOUNT'] as const;

/** 对公汇款: the account handlers transfer to; all three or none outside production (then a marked sandbox payee). */
function transferSection(c: Context, settings: Settings) {
  if (c.isProduction || TRANSFER_PAYEE.some((k) => settings[k] !== undefined)) {
    const why = c.isProduction ? IN_PRODUCTION : 'missing while other TRANSFER_PAYEE_* settings are set (set all of them, or none for the sandbox payee)';
    return z.object({ ...S, TRANSFER_PAYEE_NAME: need(why), TRANSFER_PAYEE_BANK: need(why), TRANSFER_PAYEE_ACCOUNT: need(why) })
      .transform((s) => ({ payeeName: s.TRANSFER_PAYEE_NAME, payeeBank: s.TRANSFER_PAYEE_BANK, payeeAccount: s.TRANSFER_PAYEE_ACCOUNT, sandbox: false }));
  }
  return z.object(S).transform(() => ({ ...SANDBOX_PAYEE, sandbox: true }));
}

function certificatesSection() {
  return z.object(S).transform((s) => ({
    projectsFile: resolve(s.CERT_PROJECTS_FILE),
    /** How long after expiry a certificate can still be bound. */
    bindExpiredGraceDays: s.BIND_EXPIRED_GRACE_DAYS,
    /** Where the /capc/ page looks for the key agent on the user's own PC. */
    keyAgentUrl: trimSlashes(s.KEY_AGENT_URL),
  }));
}
export type CertificatesConfig = z.output<ReturnType<typeof certificatesSection>>;

/** Every section, in the order their problems are reported. */
function sections(c: Context, settings: Settings) {
  return {
    server: serverSection(c),
    wechat: wechatSection(c),
    ca: caSection(c, settings),
    wechatpay: wechatPaySection(c, settings),
    /** Handler liveness (Tencent Cloud FaceID or the sandbox). */
    liveness: livenessSection(c, settings),
    /** Keys of the PII vault (ID numbers at rest); outside production the sandbox secrets stand in. */
    pii: fromBuilder<PiiConfig>(() => buildPiiConfig({
      encryptionKeys: settings.PII_ENCRYPTION_KEY ?? (c.isProduction ? undefined : c.sandbox?.piiEncryptionKey),
      hmacKey: settings.PII_HMAC_KEY ?? (c.isProduction ? undefined : c.sandbox?.piiHmacKey),
    }, c.isProduction)),
    /** 对公汇款: the account handlers transfer to (sandbox: a made-up one, marked as such on the page). */
    transfer: transferSection(c, settings),
    certificates: certificatesSection(),
    /** E-invoices: Nuonuo or the sandbox issuer (issue 11). */
    einvoice: einvoiceSection(c, settings),
    /** Invoice e-mail: SMTP with TLS, or the sandbox outbox at /dev/mail. */
    mail: mailSection(c, settings),
    renewals: renewalsSection(c),
    /** The operator console's listener, sessions and network rules (issue 12). */
    console: consoleSection(c),
    /** 到期提醒: the daily run's hour and pace, the WeChat template ids (issue 12). */
    reminders: remindersSection(c),
    /** Reminder SMS: Tencent Cloud SMS, the sandbox outbox at /dev/sms, or off (production without SMS_*). */
    sms: smsSection(c, settings),
  };
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Turns validated settings into the frozen configuration the app runs on. Production demands every real setting;
 * a partly configured WeChat identity is an error everywhere, since the only alternative (sandbox) would hide
 * the mistake. Throws SettingsError naming every problem at once.
 */
export function buildConfig(settings: Settings, sandbox?: SandboxSecrets) {
  const isProduction = settings.APP_ENV === 'production';
  const context: Context = {
    isProduction,
    sandbox,
    wechatSandbox: !isProduction && wantsSandbox(settings),
    port: settings.PORT,
    publicBaseUrl: trimSlashes(settings.PUBLIC_BASE_URL ?? `http://localhost:${settings.PORT}`),
  };
  const { server, ...rest } = parseSections(sections(context, settings), { ...settings, sandbox });
  return deepFreeze({ ...server, ...rest });
}

export type AppConfig = ReturnType<typeof buildConfig>;
