import { z } from 'zod';
import { ValidationError } from '../../lib/errors';
import { OUT_TRADE_NO_PATTERN } from '../orders/order-number';
import { MAX_YEARS, MIN_YEARS } from '../orders/price-rules';
import { MAX_ITEMS, type OrderItem } from '../orders/service';

/**
 * The 续期缴费 form: a checkbox `c_<certificateId>` per chosen certificate and a select `y_<certificateId>`
 * with its years. Named per certificate because readForm keeps one value per key. Only shape is checked
 * here; whether the handler may order that certificate for that term is the service's decision.
 */
const idPattern = /^c_(\d{1,12})$/;
const yearsSchema = z.coerce.number().int().min(MIN_YEARS).max(MAX_YEARS);

export function parseRenewForm(fields: Record<string, string>): OrderItem[] {
  const items: OrderItem[] = [];
  for (const [key, value] of Object.entries(fields)) {
    const m = idPattern.exec(key);
    if (!m || !value) continue;
    const certificateId = Number(m[1]);
    const years = yearsSchema.safeParse(fields[`y_${m[1]}`] ?? '1');
    if (!years.success) throw new ValidationError(`续期年限只能选择 ${MIN_YEARS}–${MAX_YEARS} 年`, `bad years for certificate ${certificateId}`);
    items.push({ certificateId, years: years.data });
  }
  if (!items.length) throw new ValidationError('请选择要续期的证书', 'renew form without any certificate');
  if (items.length > MAX_ITEMS) throw new ValidationError(`一次最多续期 ${MAX_ITEMS} 张证书`, `renew form with ${items.length} certificates`);
  return items;
}

/** Order numbers come from the URL: anything not shaped like one is a 404 before any lookup. */
export const isOrderNo = (v: string): boolean => OUT_TRADE_NO_PATTERN.test(v);
