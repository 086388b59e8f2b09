import { type Deps } from '../../deps';
import { GroupCommit } from '../../lib/db/group-commit';
import { openidTail } from '../../lib/logger';
import { type MessageHandler } from '../wechat-webhook/service';
import { text, type WechatXml } from '../wechat-webhook/xml';
import { type TemplateSendReport } from './entities';
import { ReminderRepository } from './repository';
import { type SubscribeAnswer, SubscribeConsents } from './subscribe-consents';

/** Message types whose handling is idempotent by itself (keyed writes): no dedupe claim in the store is needed. */
export const UNCLAIMED_EVENTS = new Set(['event:templatesendjobfinish']);

/** The answers in a subscribe event's nested list (one <List> or several). */
export function subscribeAnswers(xml: WechatXml, wrapper: string): Array<{ templateId: string; status: string }> {
  const block = xml[wrapper] as { List?: unknown } | undefined;
  const list = block && typeof block === 'object' ? block.List : undefined;
  const items = Array.isArray(list) ? list : list ? [list] : [];
  return items
    .filter((i): i is Record<string, unknown> => !!i && typeof i === 'object')
    .map((i) => ({ templateId: String(i.TemplateId ?? ''), status: String(i.SubscribeStatusString ?? '') }))
    .filter((a) => /^[\w-]{1,64}$/.test(a.templateId));
}

/**
 * The webhook's side of 到期提醒: TEMPLATESENDJOBFINISH (one per template message, in bursts after a run: written in
 * group commits, keyed by MsgID, so a repeated report is nothing twice) and the 订阅通知 popup and change events.
 */
export function reminderWebhookHandlers(deps: Deps): Record<string, MessageHandler> {
  const repo = new ReminderRepository();
  const consents = new SubscribeConsents(deps.db, deps.clock);
  const reports = new GroupCommit<Omit<TemplateSendReport, 'id'>>((batch) => repo.recordReports(deps.db, batch), { db: deps.db, maxBatch: 500 });

  const answers = (wrapper: string): MessageHandler => async ({ xml, openid }) => {
    for (const a of subscribeAnswers(xml, wrapper)) {
      if (a.status !== 'accept' && a.status !== 'reject') continue;
      await consents.record({ openid, templateId: a.templateId, status: a.status } satisfies SubscribeAnswer);
      deps.logger.info({ openid: openidTail(openid), templateId: a.templateId, status: a.status, wrapper }, 'subscribe message answer recorded');
    }
    return null;
  };

  return {
    'event:templatesendjobfinish': async ({ xml }) => {
      const msgid = (text(xml, 'MsgID') ?? text(xml, 'MsgId') ?? '').trim();
      const status = (text(xml, 'Status') ?? '').trim().slice(0, 48);
      if (!/^\d{1,32}$/.test(msgid) || !status) return null;
      await reports.submit({ msgid, status, reportedAt: new Date(deps.clock.nowMs()) });
      deps.metrics.templateReports.inc({ status: status.startsWith('failed') ? status : status === 'success' ? 'success' : 'other' });
      return null;
    },
    'event:subscribe_msg_popup_event': answers('SubscribeMsgPopupEvent'),
    'event:subscribe_msg_change_event': answers('SubscribeMsgChangeEvent'),
  };
}
