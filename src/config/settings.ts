import { z } from 'zod';

/**
 * Every setting the process reads from the environment, validated once at start.
 * Unknown WECHAT* settings are refused on purpose: a typo in a secret's name must stop the start,
 * never silently drop a live site into sandbox mode.
 */
const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().trim().optional());
const bool = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
  z.enum(['1', '0', 'true', 'false', 'yes', 'no']).optional().transform((v) => v === '1' || v === 'true' || v === 'yes'),
);

export const settingsSchema = z.object({
  APP_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'test', 'production']).default('development')),
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(3000)),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  PUBLIC_BASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  DATABASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^mysql$/, error: 'must look like mysql://user:pass@host:port/db' }).optional()),
  DB_POOL_SIZE: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(200).default(20)),
  REDIS_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^rediss?$/, error: 'must look like redis://host:port/db' }).optional()),
  REDIS_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9_:.-]{1,32}$/).default('cam:')),
  SESSION_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  /** A login lasts this long however active the session is (the session itself ends after 7 idle days). */
  SESSION_ABSOLUTE_HOURS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(30 * 24).default(7 * 24)),
  TRUST_PROXY: bool,
  /** Proxies that append to X-Forwarded-For in front of the app; the client IP is the entry the nearest one wrote. */
  TRUST_PROXY_HOPS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(5).default(1)),
  // Operator console (issue 12): its own listener, never the public one.
  /** The console's port; outside production it defaults to PORT+1, in production the console runs only when this is set. */
  ADMIN_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).optional()),
  ADMIN_HOST: z.preprocess(emptyToUndefined, z.string().optional()),
  /** The console's address as operators' browsers reach it (the key agent must allow its origin); default http://localhost:ADMIN_PORT. */
  ADMIN_BASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  /** The one proxy (its IP) whose X-Forwarded-For / -Proto the console believes; otherwise the socket address counts. */
  ADMIN_TRUSTED_PROXY: z.preprocess(emptyToUndefined, z.union([z.ipv4(), z.ipv6()], { error: 'must be one IP address (the proxy in front of the console)' }).optional()),
  /** Comma-separated CIDRs (or single addresses) the console answers; unset: any address that reaches the port. */
  ADMIN_IP_ALLOWLIST: optionalString,
  ADMIN_SESSION_IDLE_MINUTES: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(240).default(15)),
  ADMIN_SESSION_MAX_HOURS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(24).default(8)),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  METRICS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  WECHAT_APPID: z.preprocess(emptyToUndefined, z.string().regex(/^wx[0-9a-zA-Z]{16}$/, 'must be wx followed by 16 letters or digits').optional()),
  WECHAT_APPSECRET: z.preprocess(emptyToUndefined, z.string().regex(/^[0-9a-zA-Z]{32}$/, 'must be 32 letters or digits').optional()),
  WECHAT_TOKEN: z.preprocess(emptyToUndefined, z.string().regex(/^[0-9a-zA-Z]{3,32}$/, 'must be 3-32 letters or digits').optional()),
  WECHAT_ENCODING_AES_KEY: z.preprocess(emptyToUndefined, z.string().regex(/^[0-9a-zA-Z]{43}$/, 'must be 43 letters or digits').optional()),
  WECHAT_API_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  WECHAT_OAUTH_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  WECHAT_MP_VERIFY_CODE: optionalString.pipe(z.string().regex(/^[0-9a-zA-Z]{4,64}$/).optional()),
  WECHAT_REPLY_DEADLINE_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(500).max(4800).default(4500)),
  /** People staff the customer-service desk (客服): a user's 人工 message is handed over with transfer_customer_service. */
  WECHAT_CS_STAFFED: bool,
  /** 类目模板 ids for 订单支付成功 and 汇款未通过 notices (fields: docs in README); without them no template is sent. */
  WECHAT_TEMPLATE_ORDER_PAID: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  WECHAT_TEMPLATE_TRANSFER_REJECTED: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  WECHAT_TEMPLATE_REVIEW_RESULT: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  /** 类目模板 id of 开票成功 (fields: README, invoices). */
  WECHAT_TEMPLATE_INVOICE_ISSUED: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  // Certificates. The RA settings select the real CA; without them the built-in sandbox CA issues.
  CA_RA_BASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  CA_RA_CLIENT_ID: optionalString,
  CA_RA_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  /** PEM bundle of the CA roots a presented certificate must chain to (intermediates may be in it too). */
  CA_TRUSTED_ROOTS_FILE: optionalString,
  /** 32 bytes, base64: encrypts the built-in CA's private keys at rest. */
  CA_KEY_ENCRYPTION_KEY: z.preprocess(emptyToUndefined, z.base64().refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64').optional()),
  /** Project rules (classification of certificates, renewal window per project). */
  CERT_PROJECTS_FILE: z.preprocess(emptyToUndefined, z.string().default('config/projects.json')),
  /** How long after expiry a certificate can still be bound (it still needs renewal). */
  BIND_EXPIRED_GRACE_DAYS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(3650).default(365)),
  /** PC renewal: days before a superseded certificate is revoked (reason superseded). */
  RENEWAL_SUPERSEDED_GRACE_DAYS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(365).default(7)),
  /** Ed25519 seed (32 bytes, base64) that signs the renewal audit chain's head; required in production. */
  RENEWAL_AUDIT_KEY: z.preprocess(emptyToUndefined, z.base64().refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64').optional()),
  /** Where the signed audit head is exported daily (a path the database's writers cannot alter); default DATA_DIR/audit. */
  RENEWAL_AUDIT_EXPORT_DIR: optionalString,
  /** 类目模板 id of 证书续期成功 (fields: docs/renewal.md). */
  WECHAT_TEMPLATE_CERT_RENEWED: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  /** 到期提醒 (issue 12): 类目模板 id (fields thing1 单位, time2 到期日期, thing3 提示); unset: the template channel is off (logged at start). */
  WECHAT_TEMPLATE_EXPIRY_REMINDER: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  /** 订阅通知 (一次性) template id offered with wx-open-subscribe on the certificate pages; unset: no opt-in is offered. */
  WECHAT_SUBSCRIBE_TEMPLATE_EXPIRY: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{10,64}$/).optional()),
  /** Hour of the China day (0-23) from which the daily expiry-reminder run starts. */
  REMINDER_HOUR: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(23).default(9)),
  /** Reminder sends per second (each template send brings one TEMPLATESENDJOBFINISH to the webhook). */
  REMINDER_SENDS_PER_SECOND: z.preprocess(emptyToUndefined, z.coerce.number().min(0.1).max(1000).default(20)),
  // SMS (Tencent Cloud SMS, SendSms). SMS_SDK_APP_ID selects the real client; none: the sandbox outbox at /dev/sms outside production, off in it.
  SMS_SDK_APP_ID: optionalString.pipe(z.string().regex(/^\d{6,20}$/, 'must be the SmsSdkAppId (digits)').optional()),
  SMS_SIGN_NAME: optionalString.pipe(z.string().max(30, 'must be at most 30 characters').optional()),
  /** SMS template ids: renew = params [单位, 到期日期]; paid (paid, renew on the PC) = [单位, 到期日期, 续期网址]. */
  SMS_TEMPLATE_EXPIRY_RENEW: optionalString.pipe(z.string().regex(/^\d{1,20}$/, 'must be the SMS TemplateId (digits)').optional()),
  SMS_TEMPLATE_EXPIRY_PAID: optionalString.pipe(z.string().regex(/^\d{1,20}$/, 'must be the SMS TemplateId (digits)').optional()),
  /** Defaults to TENCENTCLOUD_SECRET_ID / _KEY (a separate sub-account with only sms:SendSms is better). */
  SMS_SECRET_ID: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{16,64}$/, 'must be 16-64 letters or digits').optional()),
  SMS_SECRET_KEY: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  SMS_REGION: optionalString.pipe(z.string().regex(/^[a-z]{2}-[a-z]+(-\d+)?$/, 'must look like ap-guangzhou').optional()),
  /** Points the SMS client elsewhere (a test double); default https://sms.tencentcloudapi.com. */
  SMS_API_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  // WeChat Pay (APIv3). None set: the in-process sandbox WeChat Pay; production demands the real ones.
  WECHATPAY_MCHID: z.preprocess(emptyToUndefined, z.string().regex(/^\d{8,12}$/, 'must be the 商户号 (8-12 digits)').optional()),
  /** The merchant API certificate's serial number (hex). */
  WECHATPAY_SERIAL_NO: z.preprocess(emptyToUndefined, z.string().regex(/^[0-9A-Fa-f]{8,64}$/, 'must be the API certificate serial (hex)').optional()),
  WECHATPAY_PRIVATE_KEY_FILE: optionalString,
  WECHATPAY_APIV3_KEY: z.preprocess(emptyToUndefined, z.string().refine((v) => Buffer.byteLength(v, 'utf8') === 32, 'must be exactly 32 characters (check for pasted spaces)').optional()),
  /** 微信支付公钥 (pub_key.pem) and its ID; and/or WECHATPAY_PLATFORM_CERTS_FILE (a PEM bundle of platform certificates). */
  WECHATPAY_PUBLIC_KEY_FILE: optionalString,
  WECHATPAY_PUBLIC_KEY_ID: z.preprocess(emptyToUndefined, z.string().regex(/^PUB_KEY_ID_[0-9A-Za-z]+$/, 'must look like PUB_KEY_ID_0114…').optional()),
  WECHATPAY_PLATFORM_CERTS_FILE: optionalString,
  /** Platform certificates: download (GET /v3/certificates, kept refreshed), file (the bundle only) or off; unset: file when a bundle is given, else off. */
  WECHATPAY_PLATFORM_CERTS: z.preprocess(emptyToUndefined, z.enum(['download', 'file', 'off']).optional()),
  WECHATPAY_API_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  WECHATPAY_API_BACKUP_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  WECHATPAY_NOTIFY_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).refine((v) => !v.includes('?'), 'must not carry a query string').optional()),
  /** Where the /capc/ page looks for the key agent on the user's own PC. */
  KEY_AGENT_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:17321')),
  // Handler liveness (Tencent Cloud FaceID). None set: the sandbox FaceID at /sandbox/faceid stands in.
  TENCENTCLOUD_SECRET_ID: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{16,64}$/, 'must be 16-64 letters or digits').optional()),
  TENCENTCLOUD_SECRET_KEY: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  FACEID_RULE_ID: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be 1-32 letters or digits').optional()),
  FACEID_REGION: optionalString.pipe(z.string().regex(/^[a-z]{2}-[a-z]+(-\d+)?$/, 'must look like ap-guangzhou').optional()),
  /** Points the FaceID client elsewhere (the sandbox, a test double); default https://faceid.tencentcloudapi.com. */
  LIVENESS_API_BASE: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  /** 对公汇款 payee shown on the transfer page (the GDCA account). Outside production: a sandbox payee; required in production. */
  TRANSFER_PAYEE_NAME: optionalString.pipe(z.string().max(100, 'must be at most 100 characters').optional()),
  TRANSFER_PAYEE_BANK: optionalString.pipe(z.string().max(100, 'must be at most 100 characters').optional()),
  TRANSFER_PAYEE_ACCOUNT: optionalString.pipe(z.string().regex(/^\d[\d ]{6,38}\d$/, 'must be the account number (digits, spaces allowed)').optional()),
  /** `id:base64(32 bytes)[,id:base64…]`, the first active: encrypts ID numbers at rest (kept outside the database). */
  PII_ENCRYPTION_KEY: optionalString,
  /** base64 of at least 32 bytes: keys the HMAC index used to look ID numbers up without decrypting. */
  PII_HMAC_KEY: z.preprocess(emptyToUndefined, z.base64().refine((v) => Buffer.from(v, 'base64').length >= 32, 'must be at least 32 bytes, base64').optional()),
  // E-invoices (issue 11). NUONUO_* select the real Nuonuo client; none set: the sandbox issuer (never in production).
  NUONUO_APP_KEY: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{4,64}$/, 'must be the 诺诺 appKey (letters and digits)').optional()),
  NUONUO_APP_SECRET: optionalString.pipe(z.string().min(8, 'must be the 诺诺 appSecret').optional()),
  /** The 自用型应用 access token from open.nuonuo.com (kept current by the operator until a token keeper exists). */
  NUONUO_ACCESS_TOKEN: optionalString.pipe(z.string().min(8, 'must be the 诺诺 accessToken').optional()),
  NUONUO_API_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional()),
  /** 开票员 as registered at the 电子税局 (the name of the account logged in there). */
  NUONUO_CLERK: optionalString.pipe(z.string().max(20, 'must be at most 20 characters').optional()),
  NUONUO_EXTENSION_NUMBER: optionalString.pipe(z.string().regex(/^\d{1,8}$/, 'must be the 分机号 (digits)').optional()),
  /** 销售方 on every invoice; outside production a made-up sandbox seller stands in. */
  INVOICE_SELLER_NAME: optionalString.pipe(z.string().max(100, 'must be at most 100 characters').optional()),
  INVOICE_SELLER_TAX_ID: optionalString.pipe(z.string().regex(/^[0-9A-Z]{15,20}$/, 'must be the seller\'s 统一社会信用代码').optional()),
  INVOICE_SELLER_ADDRESS: optionalString.pipe(z.string().max(100, 'must be at most 100 characters').optional()),
  INVOICE_SELLER_PHONE: optionalString.pipe(z.string().max(20, 'must be at most 20 characters').optional()),
  INVOICE_SELLER_BANK_ACCOUNT: optionalString.pipe(z.string().max(100, 'must be at most 100 characters').optional()),
  /** Sandbox issuer: how long an invoice stays 开票中, and the share of attempts that fail (0..1). */
  EINVOICE_SANDBOX_DELAY_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(600_000).default(3000)),
  EINVOICE_SANDBOX_FAILURE_RATE: z.preprocess(emptyToUndefined, z.coerce.number().min(0).max(1).default(0)),
  /** First wait before asking the provider how an invoice stands; doubles up to 5 minutes. */
  EINVOICE_POLL_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(10).max(600_000).default(2000)),
  // Invoice e-mail. SMTP_HOST selects a real SMTP server (TLS required); none: the sandbox outbox at /dev/mail (never in production).
  SMTP_HOST: optionalString,
  SMTP_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).optional()),
  /** implicit: TLS from the first byte (port 465); starttls: upgrade required before anything is sent (port 587). */
  SMTP_TLS: z.preprocess(emptyToUndefined, z.enum(['implicit', 'starttls']).default('implicit')),
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  SMTP_FROM: optionalString.pipe(z.string().regex(/^(.+<)?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?$/, 'must be an address, e.g. 数安发票 <invoice@example.com>').optional()),
  /** PEM file of the CA that signed the SMTP server's certificate, when it is not a public one. */
  SMTP_CA_FILE: optionalString,
});

export type Settings = z.infer<typeof settingsSchema>;

const KNOWN_PREFIXED = new Set(Object.keys(settingsSchema.shape).filter((k) => k.startsWith('WECHAT')));

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SettingsError';
  }
}

/** Parses the environment; throws SettingsError naming every bad setting at once. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    // WECHAT_* and WECHATPAY_* alike: a misspelt payment secret must not silently select the sandbox either.
    if (name.startsWith('WECHAT') && !KNOWN_PREFIXED.has(name)) {
      problems.push(`${name}: unknown setting (typo? known: ${[...KNOWN_PREFIXED].join(', ')})`);
    }
  }
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) throw new SettingsError(problems);
  return parsed.data;
}
