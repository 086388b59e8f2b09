import { randomBytes } from 'node:crypto';
import { type OutgoingSms, renderSms, type SmsResult, type SmsSender, SmsRefusedError } from './types';

export interface SandboxSms {
  id: number;
  phone: string;
  template: OutgoingSms['template'];
  params: string[];
  /** As the phone would show it: 【sign】 + the template's text with its params. */
  text: string;
  reference: string;
  serialNo: string;
  at: Date;
}

/**
 * The sandbox SMS outbox: what would have been sent, kept in this process, newest first, for tests and /dev/sms.
 * `refuseNext` makes the next sends fail like a final refusal (e.g. a number that opted out).
 */
export class SandboxSmsOutbox implements SmsSender {
  readonly mode = 'sandbox' as const;
  private readonly messages: SandboxSms[] = [];
  private seq = 0;
  refuseNext = 0;

  constructor(private readonly signName: string, private readonly keep = 200) {}

  async send(sms: OutgoingSms): Promise<SmsResult> {
    if (!/^1[3-9]\d{9}$/.test(sms.phone)) throw new SmsRefusedError('FailedOperation.PhoneNumberParseFail', 'sandbox SMS: not a mainland mobile number');
    if (this.refuseNext > 0) {
      this.refuseNext--;
      throw new SmsRefusedError('LimitExceeded.PhoneNumberDailyLimit', 'sandbox SMS: refused (simulated)');
    }
    const serialNo = `sandbox:${randomBytes(8).toString('hex')}`;
    const message: SandboxSms = { id: ++this.seq, ...sms, params: [...sms.params], text: `【${this.signName}】${renderSms(sms.template, sms.params)}`, serialNo, at: new Date() };
    this.messages.unshift(message);
    this.messages.length = Math.min(this.messages.length, this.keep);
    return { serialNo };
  }

  list(): readonly SandboxSms[] {
    return this.messages;
  }

  to(phone: string): SandboxSms[] {
    return this.messages.filter((m) => m.phone === phone);
  }
}
