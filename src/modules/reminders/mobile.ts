import { type Deps } from '../../deps';
import { openidTail } from '../../lib/logger';
import { ReminderMobileEntity } from './entities';

export const MOBILE_PURPOSE = 'reminder-mobile';
/** Bumped whenever REMINDER_MOBILE_CONSENT_TEXT changes: each row keeps which text its consent was given to. */
export const REMINDER_MOBILE_CONSENT_VERSION = '2026-12';
export const REMINDER_MOBILE_CONSENT_TEXT =
  '我同意数安CA管家保存上述手机号，仅用于在我名下绑定的数字证书到期前（30 天、7 天、1 天）发送证书到期提醒短信；'
  + '仅在微信无法送达时发送。手机号加密保存，我可随时在“经办人认证”页面删除，删除后不再发送短信。';

/** 11-digit mainland mobile (1 then 3-9): spaces, dashes and a +86 / 86 prefix are tolerated as typed. */
export function parseMobile(input: string): { ok: true; value: string } | { ok: false; message: string } {
  const raw = input.replace(/[\s\u3000-]/g, '').replace(/^(\+?86)(?=1\d{10}$)/, '');
  if (!raw) return { ok: false, message: '请输入手机号码' };
  if (!/^\d+$/.test(raw)) return { ok: false, message: '手机号码只能包含数字' };
  if (raw.length !== 11) return { ok: false, message: '请输入 11 位手机号码' };
  if (!/^1[3-9]\d{9}$/.test(raw)) return { ok: false, message: '手机号码格式不正确，请输入中国大陆手机号' };
  return { ok: true, value: raw };
}

export const maskMobile = (mobile: string) => `${mobile.slice(0, 3)}****${mobile.slice(-4)}`;

/** The reminder mobile of each openid: sealed with the PII vault like the ID number, deleted on withdrawal. */
export class ReminderMobiles {
  constructor(private readonly deps: Pick<Deps, 'db' | 'pii' | 'clock' | 'logger'>) {}

  /** Saves (or replaces) the number with the time of consent; the caller has checked the consent box was ticked. */
  async save(openid: string, mobile: string): Promise<void> {
    const at = new Date(this.deps.clock.nowMs());
    const repo = this.deps.db.getRepository(ReminderMobileEntity);
    const fields = { mobileSealed: this.deps.pii.encrypt(mobile, MOBILE_PURPOSE), mobileMasked: maskMobile(mobile), consentVersion: REMINDER_MOBILE_CONSENT_VERSION, consentedAt: at, updatedAt: at };
    const existing = await repo.findOneBy({ openid });
    if (existing) await repo.update({ id: existing.id }, fields);
    else await repo.insert({ openid, ...fields, createdAt: at });
    this.deps.logger.info({ openid: openidTail(openid) }, 'reminder mobile saved with consent');
  }

  /** Withdrawal: the number is deleted, not flagged (nothing of it stays). */
  async withdraw(openid: string): Promise<boolean> {
    const res = await this.deps.db.getRepository(ReminderMobileEntity).delete({ openid });
    if (res.affected) this.deps.logger.info({ openid: openidTail(openid) }, 'reminder mobile consent withdrawn; number deleted');
    return !!res.affected;
  }

  async maskedOf(openid: string): Promise<string | null> {
    return (await this.deps.db.getRepository(ReminderMobileEntity).findOneBy({ openid }))?.mobileMasked ?? null;
  }

  /** The number itself, for one reminder SMS (each decrypt is audited by the vault). */
  async forSending(openid: string, reminderId: number): Promise<string | null> {
    const row = await this.deps.db.getRepository(ReminderMobileEntity).findOneBy({ openid });
    if (!row) return null;
    return this.deps.pii.decrypt(row.mobileSealed, MOBILE_PURPOSE, { actor: 'system:expiry-reminders', reason: 'expiry-reminder-sms', subject: `expiry_reminder:${reminderId}` });
  }
}

/**
 * The optional 手机号 + its own consent box, as a form posts them: nothing typed is fine (null); a number needs the
 * box ticked (consent is never implied by typing), and must be a mainland mobile.
 */
export function parseMobileWithConsent(fields: Record<string, string | undefined>): { ok: true; mobile: string | null } | { ok: false; error: string } {
  const typed = (fields.mobile ?? '').trim();
  if (!typed) return { ok: true, mobile: null };
  const parsed = parseMobile(typed);
  if (!parsed.ok) return { ok: false, error: parsed.message };
  if (fields.mobileConsent !== 'yes') return { ok: false, error: '如需接收到期提醒短信，请勾选同意；不需要请清空手机号' };
  return { ok: true, mobile: parsed.value };
}
