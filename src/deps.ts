import { type DataSource } from 'typeorm';
import { type AppConfig } from './config';
import { type Clock, type Random } from './lib/clock';
import { type JobQueue } from './lib/jobs/types';
import { type Logger } from './lib/logger';
import { type Metrics } from './lib/metrics';
import { type KeyValueStore } from './lib/store/types';
import { type CertificateAuthority } from './providers/ca/types';
import { type PiiVault } from './lib/pii/vault';
import { type SandboxFaceIdState } from './providers/liveness/sandbox-state';
import { type LivenessProvider } from './providers/liveness/types';
import { type SandboxWechatState } from './providers/wechat-api/sandbox-state';
import { type WechatApi } from './providers/wechat-api/types';
import { type WechatPay } from './providers/wechatpay';
import { type SandboxWechatPayState } from './providers/wechatpay/sandbox-state';
import { type EInvoiceProvider } from './providers/einvoice/types';
import { type SandboxIssuer } from './providers/einvoice/sandbox';
import { type Mailer } from './providers/mail/types';
import { type SandboxMailbox } from './providers/mail/sandbox';
import { type SmsSender } from './providers/sms/types';
import { type SandboxSmsOutbox } from './providers/sms/sandbox';

/** Everything the app is built from. Only the composition root (src/composition.ts) creates these. */
export interface Deps {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  random: Random;
  db: DataSource;
  store: KeyValueStore;
  jobs: JobQueue;
  wechatApi: WechatApi;
  /** The RA client ('ra') or the built-in CA ('sandbox'), per config.ca.mode. */
  ca: CertificateAuthority;
  /** Present only in sandbox mode: the in-process stand-in for WeChat (API server, OAuth page, simulator). */
  sandboxWechat?: SandboxWechatState;
  /** WeChat Pay APIv3: outgoing calls (signed, answers verified) and the notify verifier; real or sandbox per config.wechatpay.mode. */
  wechatpay: WechatPay;
  /** Present only in sandbox mode: the in-process WeChat Pay (API at /sandbox/wechatpay, cashier page, notifies). */
  sandboxWechatPay?: SandboxWechatPayState;
  /** Handler liveness: Tencent Cloud FaceID, or the same client against the sandbox FaceID. */
  liveness: LivenessProvider;
  /** Present only in sandbox mode: the in-process FaceID (API + H5 page at /sandbox/faceid). */
  sandboxFaceId?: SandboxFaceIdState;
  /** Encrypts ID numbers at rest, HMAC-indexes them, audits every decrypt. */
  pii: PiiVault;
  /** E-invoices: the Nuonuo client or the sandbox issuer (config.einvoice). */
  einvoice: EInvoiceProvider;
  /** Present only with the sandbox issuer (its settable delay/failure rate, red-letter confirmations). */
  sandboxEInvoice?: SandboxIssuer;
  /** Invoice e-mail: SMTP, or the sandbox outbox (config.mail). */
  mailer: Mailer;
  /** Present only with the sandbox outbox (/dev/mail). */
  sandboxMailbox?: SandboxMailbox;
  /** Reminder SMS: Tencent Cloud SMS or the sandbox outbox; absent when off (production without SMS_* settings). */
  sms?: SmsSender;
  /** Present only with the sandbox SMS outbox (/dev/sms). */
  sandboxSms?: SandboxSmsOutbox;
}
