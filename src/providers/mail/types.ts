/** Outgoing e-mail (invoice PDFs). One interface: SMTP (real.ts) or the in-process sandbox outbox (sandbox.ts). */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  attachments: Array<{ filename: string; content: Buffer; contentType: string }>;
}

export interface Mailer {
  readonly mode: 'smtp' | 'sandbox';
  /** Resolves once the server accepted the message; throws on any failure (the queue retries). */
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  close(): void;
}
