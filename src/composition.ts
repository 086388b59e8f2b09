import { type AppConfig } from './config';
import { type Deps } from './deps';
import { cryptoRandom, systemClock, type Clock, type Random } from './lib/clock';
import { createDataSource } from './lib/db/data-source';
import { entities } from './entities';
import { runMigrations } from './lib/db/migrate';
import { MemoryJobQueue } from './lib/jobs/memory';
import { RedisJobQueue } from './lib/jobs/redis';
import { createLogger, type Logger } from './lib/logger';
import { createMetrics } from './lib/metrics';
import { MemoryStore } from './lib/store/memory';
import { createRedisClient, RedisStore } from './lib/store/redis';
import { createCertificateAuthority } from './providers/ca';
import { createWechatApiClient } from './providers/wechat-api/real';
import { createPiiVault } from './lib/pii';
import { createLivenessProvider, createSandboxFaceIdState } from './providers/liveness';
import { SandboxWechatState } from './providers/wechat-api/sandbox-state';
import { createSandboxWechatPayState, createWechatPay } from './providers/wechatpay';
import { type SandboxWechatPayState } from './providers/wechatpay/sandbox-state';
import { createEInvoiceProvider } from './providers/einvoice';
import { type SandboxIssuer } from './providers/einvoice/sandbox';
import { createMailer } from './providers/mail';
import { type SandboxMailbox } from './providers/mail/sandbox';
import { createSmsSender } from './providers/sms';
import { type SandboxSmsOutbox } from './providers/sms/sandbox';

export interface OpenDepsOptions {
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  /** MySQL schema to use instead of the URL's (tests: one schema per test file). */
  schema?: string;
  migrate?: boolean;
  collectDefaultMetrics?: boolean;
  /** An existing sandbox WeChat to share (tests run two instances against one WeChat). */
  sandboxWechat?: SandboxWechatState;
  /** An existing sandbox WeChat Pay to share (sandbox mode). */
  sandboxWechatPay?: SandboxWechatPayState;
  /** For the WeChat Pay client (tests). */
  fetch?: typeof fetch;
  /** An existing sandbox issuer / outbox to share (tests run two instances against one provider). */
  sandboxEInvoice?: SandboxIssuer;
  sandboxMailbox?: SandboxMailbox;
  sandboxSms?: SandboxSmsOutbox;
}

/**
 * The composition root: opens the database and the shared store, builds the providers. A missing database or
 * cache stops here with a message that names it. WeChat is never contacted at start.
 */
export async function openDeps(config: AppConfig, opts: OpenDepsOptions = {}): Promise<Deps> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics({ collectDefaults: opts.collectDefaultMetrics });
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;

  // Before any connection opens: a bad key file stops the start here, naming its WECHATPAY_* setting.
  const wechatpay = createWechatPay({ config: config.wechatpay, clock, random, logger, fetch: opts.fetch });
  const sandboxWechatPay = config.wechatpay.mode === 'sandbox' && !config.isProduction
    ? opts.sandboxWechatPay ?? createSandboxWechatPayState(config.wechatpay, logger, clock)
    : undefined;

  const db = createDataSource(config.database, { entities, schema: opts.schema });
  try {
    await db.initialize();
  } catch (err) {
    throw new Error(`DATABASE_URL: cannot open the database (${config.database.kind}): ${(err as Error).message}`, { cause: err });
  }
  if (opts.migrate ?? true) await runMigrations(db, logger);
  // Platform certificates other instances downloaded (download mode); the first download waits for start().
  await wechatpay.certificates.attach(db);

  let store;
  let jobs;
  if (config.cache.kind === 'redis') {
    const redis = createRedisClient(config.cache.url, { lazyConnect: true });
    // Without a listener ioredis would crash the process on a dropped connection; /healthz reports it instead.
    redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
    try {
      await redis.connect();
    } catch (err) {
      await db.destroy();
      redis.disconnect();
      throw new Error(`REDIS_URL: cannot reach Redis: ${(err as Error).message}`, { cause: err });
    }
    store = new RedisStore(redis, config.cache.prefix);
    jobs = new RedisJobQueue(config.cache.url, config.cache.prefix, logger, metrics);
  } else {
    store = new MemoryStore(clock);
    jobs = new MemoryJobQueue(logger, metrics);
  }

  const sandboxWechat = config.sandbox
    ? opts.sandboxWechat ?? new SandboxWechatState(config.wechat.appId, config.wechat.appSecret)
    : opts.sandboxWechat;
  const wechatApi = createWechatApiClient({ wechat: config.wechat, store, logger, metrics, clock });
  let ca;
  try {
    ca = await createCertificateAuthority({ config, db, clock, logger });
  } catch (err) {
    await jobs.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await db.destroy();
    throw err;
  }

  const sandboxFaceId = config.liveness.mode === 'sandbox' ? createSandboxFaceIdState(config.liveness, config.publicBaseUrl) : undefined;
  const liveness = createLivenessProvider(config.liveness, { store, logger, clock, sandbox: sandboxFaceId });
  const pii = createPiiVault(config.pii, { logger, nowMs: () => clock.nowMs() });

  wechatpay.certificates.shareLimitThrough(store);
  const einvoice = createEInvoiceProvider(config.einvoice, { clock, random, fetch: opts.fetch, sandbox: opts.sandboxEInvoice });
  const mail = createMailer(config.mail, opts.sandboxMailbox);
  const sms = createSmsSender(config.sms, logger, opts.sandboxSms);
  return {
    config, logger, metrics, clock, random, db, store, jobs, wechatApi, ca, sandboxWechat, wechatpay, sandboxWechatPay, liveness, sandboxFaceId, pii,
    einvoice: einvoice.provider, sandboxEInvoice: einvoice.sandbox, mailer: mail.mailer, sandboxMailbox: mail.sandbox,
    sms: sms.sms, sandboxSms: sms.sandbox,
  };
}

/** Closes pools in the reverse order of opening; safe to call once at shutdown. */
export async function closeDeps(deps: Deps): Promise<void> {
  deps.sandboxWechatPay?.stop();
  deps.mailer.close();
  deps.wechatpay.certificates.stop();
  await deps.jobs.close().catch((err) => deps.logger.warn({ err }, 'closing jobs failed'));
  await deps.store.close().catch((err) => deps.logger.warn({ err }, 'closing store failed'));
  if (deps.db.isInitialized) await deps.db.destroy().catch((err) => deps.logger.warn({ err }, 'closing database failed'));
}
