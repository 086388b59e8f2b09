import nodemailer from 'nodemailer';
import { type Mailer, type OutgoingMail } from './types';

export interface SandboxMessage {
  id: number;
  to: string;
  subject: string;
  text: string;
  at: Date;
  messageId: string;
  /** The whole message as it would have gone over SMTP (RFC 5322, MIME). */
  raw: Buffer;
  attachments: Array<{ filename: string; contentType: string; size: number; content: Buffer }>;
}

/**
 * The sandbox outbox: messages are built by nodemailer exactly as for SMTP (stream transport) and kept in this
 * process, newest first, for /dev/mail. A settable failure makes a send throw, to show the queue's retries.
 */
export class SandboxMailbox implements Mailer {
  readonly mode = 'sandbox' as const;
  private readonly messages: SandboxMessage[] = [];
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  private seq = 0;
  /** While > 0, each send fails and counts down (a test or the demo's "SMTP down"). */
  failNext = 0;

  constructor(private readonly from: string, private readonly keep = 200) {}

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('sandbox SMTP: 421 service not available (simulated)');
    }
    const info = await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text, attachments: mail.attachments });
    const message: SandboxMessage = {
      id: ++this.seq, to: mail.to, subject: mail.subject, text: mail.text, at: new Date(), messageId: String(info.messageId ?? ''), raw: info.message as Buffer,
      attachments: mail.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.content.length, content: a.content })),
    };
    this.messages.unshift(message);
    this.messages.length = Math.min(this.messages.length, this.keep);
    return { messageId: message.messageId };
  }

  list(): readonly SandboxMessage[] {
    return this.messages;
  }

  get(id: number): SandboxMessage | undefined {
    return this.messages.find((m) => m.id === id);
  }

  close(): void {}
}

export { type OutgoingMail };
