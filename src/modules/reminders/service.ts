import { setTimeout as sleep } from 'node:timers/promises';
import { type Deps } from '../../deps';
import { openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { SmsRefusedError } from '../../providers/sms/types';
import { type Certificate, CertificateEntity } from '../certificates/entities';
import { formatDate } from '../certificates/view-model';
import { FollowerRepository } from '../followers/repository';
import { deliverTemplateWithId, thing20 } from '../followers/template-delivery';
import { OrderRepository } from '../orders/repository';
import { RenewalEntity } from '../renewals/entities';
import { renewalAddress } from '../renewals/phone-view';
import { chinaDayStart, chinaDaysLeft, dueThreshold } from './due';
import { type ExpiryReminder, type ReminderChannel, type ReminderKind } from './entities';
import { ReminderMobiles } from './mobile';
import { ReminderRepository } from './repository';
import { SubscribeConsents } from './subscribe-consents';

/** A claim older than this that is still `claimed` belongs to a run that died or failed: the next run retries it. */
const STALE_CLAIM_MS = 30 * 60_000;
/** The search window: certificates expiring within the largest threshold, plus today. */
const WINDOW_DAYS = 31;

export interface RunSummary { claimed: number; sent: number; unreachable: number; skipped: number; failed: number; retried: number }
type Outcome = { state: 'sent'; channel: ReminderChannel; msgid: string | null } | { state: 'unreachable'; detail: string } | { state: 'skipped'; detail: string };

/**
 * 到期提醒: finds certificates expiring in 30, 7 or 1 China days, claims one row per certificate, threshold and bound
 * handler (committed before any send), and sends through the first channel that reaches the handler: the 到期提醒
 * template while they follow, else a one-time 订阅通知 they accepted, else an SMS to the number they gave with consent.
 * Never after the renewal (nor for a revoked or superseded certificate), never a WeChat message to someone who
 * unfollowed. Sends are paced (REMINDER_SENDS_PER_SECOND): each template send brings a TEMPLATESENDJOBFINISH back.
 */
export class ExpiryReminderService {
  private readonly repo = new ReminderRepository();
  private readonly followers = new FollowerRepository();
  private readonly mobiles: ReminderMobiles;
  private readonly consents: SubscribeConsents;
  private nextSendAt = 0;

  constructor(private readonly deps: Deps) {
    this.mobiles = new ReminderMobiles(deps);
    this.consents = new SubscribeConsents(deps.db, deps.clock);
  }

  /** Which channels are on, for the log line at start. */
  channels(): { template: boolean; subscribe: boolean; sms: boolean } {
    const { reminders } = this.deps.config;
    return { template: !!reminders.templateId, subscribe: !!reminders.subscribeTemplateId, sms: !!this.deps.sms };
  }

  async runDaily(): Promise<RunSummary> {
    const { deps } = this;
    const nowMs = deps.clock.nowMs();
    const summary: RunSummary = { claimed: 0, sent: 0, unreachable: 0, skipped: 0, failed: 0, retried: 0 };
    const count = (outcome: Outcome | 'failed' | 'taken') => {
      if (outcome === 'taken') return; // another instance's run is on it
      if (outcome === 'failed') summary.failed++;
      else summary[outcome.state]++;
    };

    for (const row of await this.repo.staleClaims(deps.db, new Date(nowMs - STALE_CLAIM_MS), 500)) {
      summary.retried++;
      count(await this.attempt(row));
    }
    const due = await this.repo.dueRecipients(deps.db.manager, new Date(nowMs), chinaDayStart(nowMs, WINDOW_DAYS), { includeSandbox: deps.config.sandbox });
    for (const { certificate, openid } of due) {
      const threshold = dueThreshold(certificate.notAfter.getTime(), nowMs);
      if (!threshold) continue;
      const kind = await this.kindOf(certificate);
      if (!kind) continue; // renewed, revoked, superseded: no reminder, and nothing claimed
      const row = await this.repo.claim(deps.db, {
        certificateId: certificate.id, thresholdDays: threshold, openid, kind, notAfter: certificate.notAfter, at: new Date(nowMs), sandbox: certificate.sandbox,
      });
      if (!row) continue;
      summary.claimed++;
      count(await this.attempt(row, certificate));
    }
    deps.logger.info({ ...summary }, 'expiry reminders: daily run finished');
    return summary;
  }

  /** renew / paid (a PAID order holds it: finish on the PC), or null when no reminder is due any more. */
  private async kindOf(cert: Certificate): Promise<ReminderKind | null> {
    const em = this.deps.db.manager;
    if (cert.status !== 'valid' || cert.supersededById) return null;
    if (await em.count(RenewalEntity, { where: { certificateId: cert.id, state: 'INSTALLED' } })) return null;
    const open = await new OrderRepository().openOrdersOf(em, [cert.id]);
    return open.some((o) => o.order.state === 'PAID') ? 'paid' : 'renew';
  }

  /** One attempt at a claimed row; a retryable failure leaves it claimed for the next run. */
  private async attempt(row: ExpiryReminder, known?: Certificate): Promise<Outcome | 'failed' | 'taken'> {
    const { deps } = this;
    if (!(await this.repo.startAttempt(deps.db, row))) return 'taken';
    const labels = { threshold: String(row.thresholdDays) };
    try {
      const outcome = await this.deliver(row, known);
      const at = new Date(deps.clock.nowMs());
      if (outcome.state === 'sent') await this.repo.settle(deps.db, row.id, { state: 'sent', channel: outcome.channel, msgid: outcome.msgid, detail: null, settledAt: at });
      else await this.repo.settle(deps.db, row.id, { state: outcome.state, channel: null, msgid: null, detail: outcome.detail, settledAt: at });
      deps.metrics.reminders.inc({ ...labels, channel: outcome.state === 'sent' ? outcome.channel : 'none', result: outcome.state });
      return outcome;
    } catch (err) {
      deps.metrics.reminders.inc({ ...labels, channel: 'none', result: 'failed' });
      deps.logger.warn({ err, reminderId: row.id, openid: openidTail(row.openid) }, 'expiry reminder failed; the next run tries it again');
      return 'failed';
    }
  }

  private async deliver(row: ExpiryReminder, known?: Certificate): Promise<Outcome> {
    const { deps } = this;
    const { reminders, publicBaseUrl } = deps.config;
    const cert = known ?? await deps.db.manager.findOne(CertificateEntity, { where: { id: row.certificateId } });
    const kind = cert ? await this.kindOf(cert) : null;
    if (!cert || !kind || cert.notAfter.getTime() <= deps.clock.nowMs()) return { state: 'skipped', detail: 'renewed-or-gone' };

    const org = cert.organization ?? cert.commonName ?? '数字证书';
    const date = formatDate(cert.notAfter);
    const left = chinaDaysLeft(cert.notAfter.getTime(), deps.clock.nowMs());
    const hint = kind === 'paid' ? '已缴费，请在电脑上完成续期' : left <= 0 ? '今天到期，请尽快续期缴费' : `${left}天后到期，请及时续期缴费`;
    // 续期缴费 for an unpaid certificate; the certificate page (it shows the PC address) for a paid one.
    const url = kind === 'paid' ? `${publicBaseUrl}/h5/certs/${cert.id}` : `${publicBaseUrl}/h5/renew?cert=${cert.id}`;
    const data = { thing1: thing20(org), time2: date, thing3: thing20(hint) };
    const follower = await this.followers.findByOpenid(deps.db.manager, row.openid, { includeSandbox: deps.config.sandbox });
    let following = follower?.subscribed === true;
    const refusals: string[] = [];

    if (following && reminders.templateId) {
      await this.pace();
      const sent = await deliverTemplateWithId(deps, { touser: row.openid, template_id: reminders.templateId, client_msg_id: `expiry-${row.id}`, url, data }, `expiry reminder ${row.id}`);
      if (sent.delivery === 'sent') return { state: 'sent', channel: 'template', msgid: sent.msgid ?? null };
      if (sent.delivery === 'not-following') following = false;
      refusals.push(`template:${sent.errcode ?? sent.delivery}`);
    }
    if (following && reminders.subscribeTemplateId && await this.consents.take(row.openid, reminders.subscribeTemplateId)) {
      await this.pace();
      try {
        await deps.wechatApi.sendSubscribeMessage({ touser: row.openid, template_id: reminders.subscribeTemplateId, page: url, data: wrap(data) });
        return { state: 'sent', channel: 'subscribe', msgid: null };
      } catch (err) {
        if (!(err instanceof WechatApiError) || err.retryable) {
          await this.consents.giveBack(row.openid, reminders.subscribeTemplateId);
          throw err;
        }
        refusals.push(`subscribe:${err.errcode}`);
      }
    }
    if (deps.sms) {
      const mobile = await this.mobiles.forSending(row.openid, row.id);
      if (mobile) {
        await this.pace();
        try {
          const params = kind === 'paid' ? [[...org].slice(0, 20).join(''), date, renewalAddress(publicBaseUrl)] : [[...org].slice(0, 20).join(''), date];
          const { serialNo } = await deps.sms.send({ phone: mobile, template: kind, params, reference: `expiry-${row.id}` });
          return { state: 'sent', channel: 'sms', msgid: serialNo.slice(0, 32) };
        } catch (err) {
          if (!(err instanceof SmsRefusedError)) throw err;
          refusals.push(`sms:${err.code}`);
        }
      }
    }
    return { state: 'unreachable', detail: (refusals.join(',') || (following ? 'no-channel' : 'not-following')).slice(0, 64) };
  }

  /** Waits so that sends start at most REMINDER_SENDS_PER_SECOND apart (wall time: it is WeChat's rate that counts). */
  private async pace(): Promise<void> {
    const interval = 1000 / this.deps.config.reminders.sendsPerSecond;
    const now = Date.now();
    const at = Math.max(now, this.nextSendAt);
    this.nextSendAt = at + interval;
    if (at > now) await sleep(at - now);
  }
}

const wrap = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, { value: v }]));
