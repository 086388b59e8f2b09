import { z } from 'zod';
import { type Context, S } from './sections';

/** Sandbox stand-ins: the sandbox WeChat accepts any template id, and the simulator labels these. */
export const SANDBOX_EXPIRY_TEMPLATE = 'sandbox-tpl-expiry-reminder';
export const SANDBOX_SUBSCRIBE_TEMPLATE = 'sandbox-sub-expiry-reminder';

/**
 * 到期提醒 (issue 12): when the daily run starts (China hour), how fast it sends, and the WeChat template ids. An unset
 * template id turns that channel off (the run logs it at start); in sandbox mode made-up ids stand in.
 */
export function remindersSection(c: Context) {
  return z.object(S).transform((s) => ({
    hour: s.REMINDER_HOUR,
    sendsPerSecond: s.REMINDER_SENDS_PER_SECOND,
    templateId: s.WECHAT_TEMPLATE_EXPIRY_REMINDER ?? (c.wechatSandbox ? SANDBOX_EXPIRY_TEMPLATE : undefined),
    subscribeTemplateId: s.WECHAT_SUBSCRIBE_TEMPLATE_EXPIRY ?? (c.wechatSandbox ? SANDBOX_SUBSCRIBE_TEMPLATE : undefined),
  }));
}
export type RemindersConfig = z.output<ReturnType<typeof remindersSection>>;
