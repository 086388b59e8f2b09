import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import { type MailConfig } from './config';
import { type Mailer, type OutgoingMail } from './types';

/**
 * SMTP through nodemailer. TLS is required either way: implicit TLS (`secure`) or STARTTLS with `requireTLS` (a
 * server that does not offer it is refused rather than sent to in clear); the certificate is verified against the
 * system roots or SMTP_CA_FILE. Pooled, so a burst of invoices reuses one connection.
 */
export class SmtpMailer implements Mailer {
  readonly mode = 'smtp' as const;
  private readonly transport: Transporter;

  constructor(private readonly config: Extract<MailConfig, { mode: 'smtp' }>) {
    this.transport = nodemailer.createTransport({
      host: config.host, port: config.port, secure: config.tls === 'implicit', requireTLS: config.tls === 'starttls', pool: true, maxConnections: 2,
      connectionTimeout: 15_000, greetingTimeout: 10_000, socketTimeout: 30_000,
      ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
      tls: { rejectUnauthorized: true, ...(config.caFile ? { ca: readFileSync(config.caFile, 'utf8') } : {}) },
    });
  }

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    const info = await this.transport.sendMail({ from: this.config.from, to: mail.to, subject: mail.subject, text: mail.text, attachments: mail.attachments });
    return { messageId: String(info.messageId ?? '') };
  }

  close(): void {
    this.transport.close();
  }
}
