/** Reminder SMS. One interface: Tencent Cloud SMS (real.ts) or the in-process sandbox outbox (sandbox.ts). */
export type SmsTemplate = 'renew' | 'paid';

export interface OutgoingSms {
  /** 11-digit mainland mobile number (the provider gets it as +86…). */
  phone: string;
  template: SmsTemplate;
  /** The template's {1}, {2}, … in order. */
  params: string[];
  /** Ours, echoed back by the provider (SessionContext): the reminder row it belongs to. */
  reference: string;
}

export interface SmsResult {
  /** The provider's SerialNo for the message. */
  serialNo: string;
}

export interface SmsSender {
  readonly mode: 'real' | 'sandbox';
  /** Resolves once the provider accepted the message; throws SmsRefusedError when it refused it for good, else another error (retryable). */
  send(sms: OutgoingSms): Promise<SmsResult>;
}

/** A refusal that will not change on retry (bad number, template, sign, a number that opted out, the daily cap per number). */
export class SmsRefusedError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'SmsRefusedError';
  }
}

/** The texts the sandbox shows for the sandbox templates (the real ones are approved at Tencent Cloud with the same params). */
export const SMS_TEMPLATE_TEXT: Record<SmsTemplate, string> = {
  renew: '您单位{1}的数字证书将于{2}到期，请在微信公众号“数安CA管家”中续期缴费，逾期证书将无法使用。',
  paid: '您单位{1}的数字证书将于{2}到期，续期费用已缴纳，请在电脑浏览器打开 {3} 插入U-KEY完成续期。',
};

export const renderSms = (template: SmsTemplate, params: string[]) => SMS_TEMPLATE_TEXT[template].replace(/\{(\d)\}/g, (_, n: string) => params[Number(n) - 1] ?? '');
