import { type Deps } from '../../deps';
import { openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { FollowerRepository } from './repository';

/** 43004 require subscribe: the user does not follow the account, so no template message can reach them. */
export const ERRCODE_REQUIRE_SUBSCRIBE = 43004;

/** `character_string` fields take at most 32 ASCII characters; `thing` fields 20 characters (WeChat's rules). */
export const ascii32 = (s: string) => s.replace(/[^\x20-\x7e]/g, '').slice(0, 32);
export const thing20 = (s: string) => [...s].slice(0, 20).join('');

export type TemplateDelivery = 'sent' | 'not-following' | 'refused';

/**
 * Sends a template message from a job. A user known not to follow is not asked at all; 43004 says the same.
 * Neither that nor another final refusal will change on retry, so both end the job ('not-following' /
 * 'refused', logged); only a retryable failure throws, for the queue to try again. `client_msg_id` (required
 * here) makes a retried send a no-op at WeChat.
 */
export async function deliverTemplate(
  deps: Pick<Deps, 'db' | 'config' | 'logger' | 'wechatApi'>,
  message: { touser: string; template_id: string; client_msg_id: string; url: string; data: Record<string, string> },
  what: string,
): Promise<TemplateDelivery> {
  return (await deliverTemplateWithId(deps, message, what)).delivery;
}

/** deliverTemplate, also giving the send's msgid (the key of its TEMPLATESENDJOBFINISH report) when it was sent. */
export async function deliverTemplateWithId(
  deps: Pick<Deps, 'db' | 'config' | 'logger' | 'wechatApi'>,
  message: { touser: string; template_id: string; client_msg_id: string; url: string; data: Record<string, string> },
  what: string,
): Promise<{ delivery: TemplateDelivery; msgid?: string; errcode?: number }> {
  const openid = message.touser;
  const follower = await new FollowerRepository().findByOpenid(deps.db.manager, openid, { includeSandbox: deps.config.sandbox });
  if (follower && !follower.subscribed) {
    deps.logger.info({ openid: openidTail(openid), what }, 'template message not sent: no longer a follower');
    return { delivery: 'not-following' };
  }
  try {
    const { msgid } = await deps.wechatApi.sendTemplateMessage({ ...message, data: Object.fromEntries(Object.entries(message.data).map(([k, v]) => [k, { value: v }])) });
    return { delivery: 'sent', msgid };
  } catch (err) {
    if (err instanceof WechatApiError && err.errcode === ERRCODE_REQUIRE_SUBSCRIBE) {
      deps.logger.info({ openid: openidTail(openid), what, errcode: err.errcode }, 'template message not delivered (43004 require subscribe)');
      return { delivery: 'not-following', errcode: err.errcode };
    }
    if (err instanceof WechatApiError && !err.retryable) {
      deps.logger.warn({ openid: openidTail(openid), what, errcode: err.errcode }, 'template message refused by WeChat; not retried');
      return { delivery: 'refused', errcode: err.errcode };
    }
    throw err;
  }
}
