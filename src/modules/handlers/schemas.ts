import { checkIdNumber } from '../../lib/pii/id-number';

export interface HandlerForm {
  name: string;
  idNumber: string;
}

export type HandlerFormResult = { ok: true; value: HandlerForm } | { ok: false; errors: Partial<Record<keyof HandlerForm, string>> };

/**
 * 姓名 as on the ID card: Han characters, with the middle dot of minority and foreign names (·, also typed as
 * • or .), 2–30 characters. Spaces are removed (people type 张 三). The liveness provider compares it exactly.
 */
const NAME = /^[\p{Script=Han}A-Za-z][\p{Script=Han}A-Za-z·]{0,28}[\p{Script=Han}A-Za-z]$/u;

export function normalizeName(input: string): string {
  return input.replace(/[\s\u3000]/g, '').replace(/[•．.・]/g, '·');
}

export function parseHandlerForm(fields: Record<string, string>, nowMs: number): HandlerFormResult {
  const errors: Partial<Record<keyof HandlerForm, string>> = {};
  const name = normalizeName(fields.name ?? '');
  if (!name) errors.name = '请输入姓名';
  else if (!NAME.test(name)) errors.name = '请按身份证上的姓名填写（2-30 个汉字，少数民族姓名可含“·”）';
  const id = checkIdNumber(fields.idNumber ?? '', nowMs);
  if (!(fields.idNumber ?? '').trim()) errors.idNumber = '请输入身份证号码';
  else if (!id.ok) errors.idNumber = id.userMessage;
  if (errors.name || errors.idNumber || !id.ok) return { ok: false, errors };
  return { ok: true, value: { name, idNumber: id.value } };
}

/**
 * Where to go after the check: only our own H5 pages (an open redirect would let a link send the handler
 * elsewhere right after proving who they are). Not the handler pages themselves (no loop).
 */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  if (!value.startsWith('/h5/') || value.startsWith('/h5/handler') || /[\\\s]|\/\/|%2f|%5c/i.test(value)) return undefined;
  return value;
}
