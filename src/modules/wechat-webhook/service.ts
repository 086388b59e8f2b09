import { type Deps } from '../../deps';
import { CustomerServiceWindow, type InteractionKind } from '../../providers/wechat-api/cs-window';
import { FollowerService } from '../followers/service';
import { RestoreKick } from '../legacy-bindings/owed';
import { reminderWebhookHandlers, UNCLAIMED_EVENTS } from '../reminders/webhook-events';
import { contactSupportText, helpText, keywordText, matchKeyword, type Reply, replyLinks, transferToCustomerService, welcomeBackText, welcomeText } from './replies';
import { text, type WechatXml } from './xml';

/** A verified inbound message, as the handlers see it. */
export interface InboundMessage {
  xml: WechatXml;
  openid: string;
  /** `text`, `image`, … or `event:subscribe`, `event:scan`, `event:click`, … */
  type: string;
}

/** Returns the reply (a text, or a hand-over to customer service), or null to answer `success` (no reply). */
export type MessageHandler = (msg: InboundMessage) => Promise<Reply | null>;

const INTERACTIONS: Record<string, InteractionKind> = {
  'event:subscribe': 'subscribe',
  'event:scan': 'scan',
  'event:click': 'click',
  'event:view': 'view',
};
const USER_MESSAGES = new Set(['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link']);

export function messageType(xml: WechatXml): string {
  const msgType = (text(xml, 'MsgType') ?? '').toLowerCase();
  return msgType === 'event' ? `event:${(text(xml, 'Event') ?? '').toLowerCase()}` : msgType;
}

/** Dispatch by type; unknown types are acknowledged with `success`, never with an empty text reply. */
export class WebhookService {
  private readonly handlers: Record<string, MessageHandler>;
  readonly csWindow: CustomerServiceWindow;

  constructor(deps: Deps, extraHandlers: Record<string, MessageHandler> = {}) {
    const followers = new FollowerService(deps.db, deps.clock, deps.config.sandbox);
    const links = replyLinks(deps.config.publicBaseUrl);
    const csStaffed = deps.config.wechat.customerServiceStaffed === true;
    this.csWindow = new CustomerServiceWindow(deps.store, deps.clock);
    const restoreKick = new RestoreKick(deps.jobs, deps.logger);

    this.handlers = {
      'event:subscribe': async ({ xml, openid }) => {
        // A parametric QR code's scene arrives as qrscene_<scene> on a first follow.
        const key = text(xml, 'EventKey') ?? '';
        // Returning users (seed 二): their unionid needs a WeChat call, never in the 5 s path. The follower upsert
        // marks the restore owed (durable before the reply, in the same statement); the owed-restore pass does it.
        await followers.record(openid, { kind: 'subscribe', scene: key.startsWith('qrscene_') ? key.slice(8).slice(0, 64) : null });
        restoreKick.kick();
        return welcomeText(links);
      },
      'event:scan': async ({ xml, openid }) => {
        await followers.record(openid, { kind: 'scan', scene: (text(xml, 'EventKey') ?? '').slice(0, 64) || null });
        return welcomeBackText(links);
      },
      'event:unsubscribe': async ({ openid }) => {
        await followers.record(openid, { kind: 'unsubscribe' });
        return null;
      },
      'event:click': async ({ xml }) => {
        const key = text(xml, 'EventKey') ?? '';
        if (key === 'CONTACT_SUPPORT') return contactSupportText(csStaffed);
        return helpText(links);
      },
      // A VIEW opens a page; WeChat shows no reply for it.
      'event:view': async () => null,
      // TEMPLATESENDJOBFINISH and the 订阅通知 answers (到期提醒).
      ...reminderWebhookHandlers(deps),
      text: async ({ xml }) => {
        const keyword = matchKeyword(text(xml, 'Content') ?? '');
        // Only a staffed desk gets the message: otherwise "转接" would promise a person nobody is there to be.
        if (keyword === '人工' && csStaffed) return transferToCustomerService();
        return keyword ? keywordText(keyword, links) : helpText(links);
      },
      ...extraHandlers,
    };
  }

  /** The interaction this message is, for WeChat's customer-service window (null when it opens none). */
  interactionOf(msg: InboundMessage): InteractionKind | null {
    return INTERACTIONS[msg.type] ?? (USER_MESSAGES.has(msg.type) ? 'message' : null);
  }

  /**
   * Whether the message does anything at all (a handler, or a customer-service window). One that does not (an
   * unknown type) needs no claim: acting on it twice is nothing twice.
   */
  hasEffect(msg: InboundMessage): boolean {
    return Object.hasOwn(this.handlers, msg.type) || this.interactionOf(msg) !== null;
  }

  /**
   * Whether the message must be claimed (replay + dedupe) before it is handled. A TEMPLATESENDJOBFINISH is not: its
   * write is keyed by MsgID (a repeat changes nothing) and it opens no window, so bursts of them cost no store trip.
   */
  needsClaim(msg: InboundMessage): boolean {
    return !UNCLAIMED_EVENTS.has(msg.type);
  }

  async handle(msg: InboundMessage): Promise<Reply | null> {
    // Own keys only: a MsgType such as "constructor" must not reach Object.prototype.
    return Object.hasOwn(this.handlers, msg.type) ? this.handlers[msg.type](msg) : null;
  }
}
