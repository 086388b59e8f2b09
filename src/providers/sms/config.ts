import { z } from 'zod';
import { type Context, need, S, trimSlashes } from '../../config/sections';
import { type Settings } from '../../config/settings';

export type SmsConfig =
  | {
    mode: 'real'; secretId: string; secretKey: string; region: string; apiBase: string; sdkAppId: string; signName: string;
    templates: { renew: string; paid: string };
  }
  | { mode: 'sandbox'; signName: string; templates: { renew: string; paid: string } }
  | { mode: 'off' };

const SANDBOX_TEMPLATES = { renew: '100001', paid: '100002' };

/**
 * Tencent Cloud SMS when SMS_SDK_APP_ID is given (then the sign, both templates and credentials are required); without it
 * the sandbox outbox (/dev/sms) outside production, and no SMS channel at all in production (the run logs it).
 */
export function smsSection(c: Context, settings: Settings): z.ZodType<SmsConfig> {
  if (settings.SMS_SDK_APP_ID !== undefined) {
    const why = 'required with SMS_SDK_APP_ID';
    return z.object({
      ...S, SMS_SIGN_NAME: need(why), SMS_TEMPLATE_EXPIRY_RENEW: need(why), SMS_TEMPLATE_EXPIRY_PAID: need(why),
      SMS_SECRET_ID: z.preprocess((v) => v ?? settings.TENCENTCLOUD_SECRET_ID, need('required with SMS_SDK_APP_ID (or TENCENTCLOUD_SECRET_ID)')),
      SMS_SECRET_KEY: z.preprocess((v) => v ?? settings.TENCENTCLOUD_SECRET_KEY, need('required with SMS_SDK_APP_ID (or TENCENTCLOUD_SECRET_KEY)')),
      SMS_API_BASE: c.isProduction ? S.SMS_API_BASE.refine((v) => v === undefined || v.startsWith('https://'), 'must be https:// when APP_ENV=production (phone numbers travel in it)') : S.SMS_API_BASE,
    }).transform((s) => ({
      mode: 'real' as const, secretId: s.SMS_SECRET_ID, secretKey: s.SMS_SECRET_KEY, region: s.SMS_REGION ?? 'ap-guangzhou',
      apiBase: trimSlashes(s.SMS_API_BASE ?? 'https://sms.tencentcloudapi.com'), sdkAppId: s.SMS_SDK_APP_ID!, signName: s.SMS_SIGN_NAME,
      templates: { renew: s.SMS_TEMPLATE_EXPIRY_RENEW, paid: s.SMS_TEMPLATE_EXPIRY_PAID },
    }));
  }
  if (c.isProduction) return z.object(S).transform(() => ({ mode: 'off' as const }));
  return z.object(S).transform((s) => ({ mode: 'sandbox' as const, signName: s.SMS_SIGN_NAME ?? '数安CA管家', templates: SANDBOX_TEMPLATES }));
}
