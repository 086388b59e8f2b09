import { EntitySchema } from 'typeorm';

/** 30, 7 and 1 days (China days) before the certificate's notAfter. */
export const THRESHOLDS = [30, 7, 1] as const;
export type Threshold = (typeof THRESHOLDS)[number];

/** renew: 续期缴费 is still to do; paid: paid, not yet renewed (finish on the PC). */
export type ReminderKind = 'renew' | 'paid';
export type ReminderChannel = 'template' | 'subscribe' | 'sms';
/**
 * claimed: the row exists, nothing is known to have gone out (a run that died, or a retryable failure: the next run
 * tries again); sent: a channel accepted it; unreachable: no channel could (not following and no SMS consent, every
 * channel refused); skipped: renewed, revoked or expired between the claim and the send.
 */
export type ReminderState = 'claimed' | 'sent' | 'unreachable' | 'skipped';

export interface ExpiryReminder {
  id: number;
  certificateId: number;
  thresholdDays: number;
  openid: string;
  kind: ReminderKind;
  channel: ReminderChannel | null;
  state: ReminderState;
  /** The template send's msgid (TEMPLATESENDJOBFINISH reports it as MsgID), or the SMS SerialNo. */
  msgid: string | null;
  /** Why it ended as it did: an errcode, a provider code, 'no-channel'. */
  detail: string | null;
  notAfter: Date;
  attempts: number;
  claimedAt: Date;
  settledAt: Date | null;
  sandbox: boolean;
}

export const ExpiryReminderEntity = new EntitySchema<ExpiryReminder>({
  name: 'ExpiryReminder',
  tableName: 'expiry_reminders',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    certificateId: { name: 'certificate_id', type: Number },
    thresholdDays: { name: 'threshold_days', type: Number },
    openid: { type: String, length: 64 },
    kind: { type: String, length: 16 },
    channel: { type: String, length: 16, nullable: true },
    state: { type: String, length: 16 },
    msgid: { type: String, length: 32, nullable: true },
    detail: { type: String, length: 64, nullable: true },
    notAfter: { name: 'not_after', type: Date },
    attempts: { type: Number, default: 0 },
    claimedAt: { name: 'claimed_at', type: Date },
    settledAt: { name: 'settled_at', type: Date, nullable: true },
    sandbox: { type: Boolean },
  },
  uniques: [{ name: 'uq_expiry_reminders_cert_threshold_openid', columns: ['certificateId', 'thresholdDays', 'openid'] }],
  indices: [
    { name: 'ix_expiry_reminders_msgid', columns: ['msgid'] },
    { name: 'ix_expiry_reminders_state', columns: ['state', 'claimedAt'] },
    { name: 'ix_expiry_reminders_settled', columns: ['settledAt'] },
  ],
});

/** What WeChat reported for one template message (any of ours, not only reminders): Status as sent, keyed by msgid. */
export interface TemplateSendReport {
  id: number;
  msgid: string;
  /** 'success' | 'failed:user block' | 'failed: system failed' (WeChat's own strings). */
  status: string;
  reportedAt: Date;
}

export const TemplateSendReportEntity = new EntitySchema<TemplateSendReport>({
  name: 'TemplateSendReport',
  tableName: 'template_send_reports',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    msgid: { type: String, length: 32 },
    status: { type: String, length: 48 },
    reportedAt: { name: 'reported_at', type: Date },
  },
  uniques: [{ name: 'uq_template_send_reports_msgid', columns: ['msgid'] }],
});

/** A user's answer to the 订阅通知 popup for one template: each accept grants one send (一次性订阅), a send uses it. */
export interface SubscribeConsent {
  id: number;
  openid: string;
  templateId: string;
  status: 'accept' | 'reject';
  grants: number;
  createdAt: Date;
  updatedAt: Date;
}

export const SubscribeConsentEntity = new EntitySchema<SubscribeConsent>({
  name: 'SubscribeConsent',
  tableName: 'subscribe_consents',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    templateId: { name: 'template_id', type: String, length: 64 },
    status: { type: String, length: 16 },
    grants: { type: Number, default: 0 },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_subscribe_consents_openid_template', columns: ['openid', 'templateId'] }],
});

/** A mobile number for 证书到期提醒短信, given with its own consent; deleting the row is the withdrawal. */
export interface ReminderMobile {
  id: number;
  openid: string;
  mobileSealed: string;
  mobileMasked: string;
  /** Which consent text was agreed to (REMINDER_MOBILE_CONSENT_VERSION). */
  consentVersion: string;
  consentedAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export const ReminderMobileEntity = new EntitySchema<ReminderMobile>({
  name: 'ReminderMobile',
  tableName: 'reminder_mobiles',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    mobileSealed: { name: 'mobile_sealed', type: String, length: 255 },
    mobileMasked: { name: 'mobile_masked', type: String, length: 16 },
    consentVersion: { name: 'consent_version', type: String, length: 16 },
    consentedAt: { name: 'consented_at', type: Date },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_reminder_mobiles_openid', columns: ['openid'] }],
});

export const reminderEntities = [ExpiryReminderEntity, TemplateSendReportEntity, SubscribeConsentEntity, ReminderMobileEntity];
