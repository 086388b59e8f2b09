import { resolve } from 'node:path';
import { z } from 'zod';
import { type Context, IN_PRODUCTION, need, S } from '../../config/sections';
import { type Settings } from '../../config/settings';

export type MailConfig =
  | { mode: 'smtp'; host: string; port: number; tls: 'implicit' | 'starttls'; user?: string; password?: string; from: string; caFile?: string }
  | { mode: 'sandbox'; from: string };

/**
 * Invoice e-mail: SMTP when SMTP_HOST is given (required in production). TLS is not optional: implicit TLS (465)
 * or STARTTLS that must succeed (587); the server's certificate is verified (SMTP_CA_FILE for a private CA). Without
 * SMTP_HOST outside production the messages go to the sandbox outbox shown at /dev/mail.
 */
export function mailSection(c: Context, settings: Settings): z.ZodType<MailConfig> {
  if (c.isProduction || settings.SMTP_HOST !== undefined) {
    const why = c.isProduction ? IN_PRODUCTION : 'required with SMTP_HOST';
    return z.object({ ...S, SMTP_HOST: need(why), SMTP_FROM: need(why) })
      .refine((s) => (s.SMTP_USER === undefined) === (s.SMTP_PASSWORD === undefined), { path: ['SMTP_PASSWORD'], message: 'SMTP_USER and SMTP_PASSWORD go together' })
      .transform((s) => ({
        mode: 'smtp' as const, host: s.SMTP_HOST, port: s.SMTP_PORT ?? (s.SMTP_TLS === 'implicit' ? 465 : 587), tls: s.SMTP_TLS, from: s.SMTP_FROM,
        ...(s.SMTP_USER ? { user: s.SMTP_USER, password: s.SMTP_PASSWORD } : {}),
        ...(s.SMTP_CA_FILE ? { caFile: resolve(s.SMTP_CA_FILE) } : {}),
      }));
  }
  return z.object(S).transform((s) => ({ mode: 'sandbox' as const, from: s.SMTP_FROM ?? '数安 CA 管家（沙箱） <invoice@sandbox.invalid>' }));
}
