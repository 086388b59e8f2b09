import { z } from 'zod';
import { ValidationError } from '../../lib/errors';

/**
 * The /h5/bind form. Only the shape and sizes are checked here (the page's inputs allow 12 and 4 characters, so
 * anything much longer is not a person typing); what the values mean — a well-formed code, 4 characters of a
 * media serial — is the service's to judge, so its refusals count against the guessing limits.
 */
export const bindForm = z.object({
  _csrf: z.string().max(128).optional(),
  /** Absent when the code came from a scanned QR (the session knows its row). */
  code: z.string().max(64, '绑定码错误，请核对后重新输入').optional(),
  last4: z.string().max(16, '请输入介质编号的后四位').default(''),
});
export type BindForm = z.infer<typeof bindForm>;

export function parseBindForm(fields: Record<string, string>): BindForm {
  const parsed = bindForm.safeParse(fields);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ValidationError(issue?.message ?? '提交的内容格式不正确', `bind form: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.code}`).join('; ')}`);
}
