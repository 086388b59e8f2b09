import type Koa from 'koa';
import { type Deps } from '../../deps';
import { jsSdkConfig, type JsSdkConfig } from '../../providers/wechat-api/js-sdk';
import { FollowerRepository } from '../followers/repository';

export interface SubscribeOffer {
  templateId: string;
  jsSdk: JsSdkConfig;
  /** The 到期提醒 template channel is on: the page says the 订阅通知 is a complement, not the only reminder. */
  templateOn: boolean;
  /** Sandbox only: the stand-in for WeChat's popup answers for this user through the simulator. */
  sandboxOpenid?: string;
}

export const isWechatBrowser = (ctx: Koa.Context) => /MicroMessenger/i.test(ctx.get('user-agent'));

/**
 * The 订阅通知 opt-in a certificate page offers: inside WeChat only (the open tag exists nowhere else), with the
 * template set, to a follower (reminders never reach someone who unfollowed, so offering it to them would promise
 * what is not sent), and when a jsapi_ticket can be had (else the page simply has no opt-in).
 */
export async function subscribeOffer(deps: Deps, ctx: Koa.Context, openid: string): Promise<SubscribeOffer | undefined> {
  const templateId = deps.config.reminders.subscribeTemplateId;
  if (!templateId || !isWechatBrowser(ctx)) return undefined;
  const follower = await new FollowerRepository().findByOpenid(deps.db.manager, openid, { includeSandbox: deps.config.sandbox });
  if (!follower?.subscribed) return undefined;
  try {
    const jsapiTicket = await deps.wechatApi.getJsapiTicket();
    const jsSdk = jsSdkConfig({ appId: deps.config.wechat.appId, jsapiTicket, url: `${deps.config.publicBaseUrl}${ctx.originalUrl}`, nowMs: deps.clock.nowMs(), random: deps.random });
    return { templateId, jsSdk, templateOn: !!deps.config.reminders.templateId, sandboxOpenid: deps.config.sandbox && deps.sandboxWechat ? openid : undefined };
  } catch (err) {
    deps.logger.warn({ err }, 'no jsapi_ticket: the certificate page is shown without the 订阅通知 opt-in');
    return undefined;
  }
}
