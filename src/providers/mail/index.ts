import { type MailConfig } from './config';
import { SmtpMailer } from './real';
import { SandboxMailbox } from './sandbox';
import { type Mailer } from './types';

/** SMTP per config.mail, or the sandbox outbox (shown at /dev/mail). */
export function createMailer(config: MailConfig, sandbox?: SandboxMailbox): { mailer: Mailer; sandbox?: SandboxMailbox } {
  if (config.mode === 'smtp') return { mailer: new SmtpMailer(config) };
  const box = sandbox ?? new SandboxMailbox(config.from);
  return { mailer: box, sandbox: box };
}
