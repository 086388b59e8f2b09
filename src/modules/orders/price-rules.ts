import { type EntityManager, IsNull, LessThanOrEqual, MoreThan } from 'typeorm';
import { ForbiddenError, ValidationError } from '../../lib/errors';
import { type PriceRule, PriceRuleEntity } from './entities';
import { BRAND } from '../../config/brand';

export const MIN_YEARS = 1;
export const MAX_YEARS = 5;

/** No price rule in force for the certificate's project and type: it cannot be ordered online. */
export class NoPriceRuleError extends ForbiddenError {
  constructor(readonly project: string, readonly certType: string, at: Date) {
    super(`该证书暂不支持在线续期，请联系客服 ${BRAND.hotline}`, `no price rule for project "${project}", type "${certType}" at ${at.toISOString()}`);
  }
}

/** The terms a rule sells, e.g. "1,2,3,4,5" → [1, 2, 3, 4, 5]; anything outside 1–5 is ignored (fail closed). */
export function allowedYearsOf(rule: Pick<PriceRule, 'allowedYears'>): number[] {
  return [...new Set(rule.allowedYears.split(',').map((s) => Number(s.trim())))]
    .filter((n) => Number.isInteger(n) && n >= MIN_YEARS && n <= MAX_YEARS)
    .sort((a, b) => a - b);
}

/**
 * The amount of one line in integer fen: unit price × years. Refuses a term the rule does not sell and any
 * result that is not a safe positive integer (a mis-entered rule must not produce a zero or fractional price).
 */
export function lineAmountFen(rule: Pick<PriceRule, 'unitPriceFen' | 'allowedYears' | 'project' | 'certType'>, years: number): number {
  if (!Number.isInteger(years) || !allowedYearsOf(rule).includes(years)) {
    throw new ValidationError(`续期年限只能选择 ${allowedYearsOf(rule).join('、')} 年`, `years ${years} not in allowed "${rule.allowedYears}" for ${rule.project}/${rule.certType}`);
  }
  const amount = rule.unitPriceFen * years;
  if (!Number.isSafeInteger(rule.unitPriceFen) || rule.unitPriceFen <= 0 || !Number.isSafeInteger(amount)) {
    throw new ValidationError(`该证书暂不支持在线续期，请联系客服 ${BRAND.hotline}`, `price rule for ${rule.project}/${rule.certType} has an invalid unit price ${rule.unitPriceFen}`);
  }
  return amount;
}

/** Sum of line amounts in fen, refusing an overflow rather than rounding. */
export function totalFen(amounts: number[]): number {
  const total = amounts.reduce((s, a) => s + a, 0);
  if (!Number.isSafeInteger(total)) throw new ValidationError('订单金额异常，请减少证书数量后重试', `order total ${total} is not a safe integer`);
  return total;
}

export class PriceRuleRepository {
  /**
   * The rule in force at `at` for (project, certType): effectiveFrom ≤ at < effectiveTo (or no end). When
   * rules overlap, the latest effectiveFrom wins: a new price is entered as a newer row.
   */
  async findInForce(em: EntityManager, project: string, certType: string, at: Date): Promise<PriceRule | null> {
    const candidates = await em.find(PriceRuleEntity, {
      where: [
        { project, certType, effectiveFrom: LessThanOrEqual(at), effectiveTo: IsNull() },
        { project, certType, effectiveFrom: LessThanOrEqual(at), effectiveTo: MoreThan(at) },
      ],
      order: { effectiveFrom: 'DESC', id: 'DESC' },
    });
    return candidates[0] ?? null;
  }

  /** Like findInForce, but none is a refusal the handler can read. */
  async require(em: EntityManager, project: string, certType: string, at: Date): Promise<PriceRule> {
    const rule = await this.findInForce(em, project, certType, at);
    if (!rule) throw new NoPriceRuleError(project, certType, at);
    return rule;
  }

  async add(em: EntityManager, rule: Omit<PriceRule, 'id' | 'createdAt'>, at: Date): Promise<PriceRule> {
    const row = { ...rule, createdAt: at };
    const result = await em.insert(PriceRuleEntity, row);
    return { ...row, id: Number(result.identifiers[0].id) };
  }
}
