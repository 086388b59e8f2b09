import { type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { fenToYuanString, parseTaxRate, taxRatePercent, yuanStringToFen } from '../invoices/amounts';
import { formatDateTime } from '../certificates/view-model';
import { type PriceRule, PriceRuleEntity, OrderLineEntity } from './entities';
import { allowedYearsOf, MAX_YEARS, MIN_YEARS, PriceRuleRepository } from './price-rules';

/**
 * The 管理员's price rules (issue 12): create (in force now or scheduled from a later date), edit a rule no order
 * used yet, retire (an end date). Each is a four-eyes proposal (kind 'price-rule'); this file holds what is
 * checked when it is proposed and what runs when it is approved. A rule an order used is never edited: old orders
 * point at the rule they were priced with (orders/entities.ts), so a new price is a new rule, and the server
 * refuses the edit even if a page offered it (checked at proposal, and again inside the UPDATE at approval).
 */

export interface RuleFields {
  project: string;
  certType: string;
  unitPriceFen: number;
  allowedYears: string;
  /** ISO instants. */
  effectiveFrom: string;
  effectiveTo: string | null;
  invoiceItem: string;
  taxCode: string;
  taxRateBp: number;
}

export type PriceRulePayload =
  | ({ action: 'create' } & RuleFields)
  | ({ action: 'edit'; ruleId: number } & RuleFields)
  | { action: 'retire'; ruleId: number; effectiveTo: string };

export interface RuleView extends PriceRule {
  usedByOrders: number;
  state: 'scheduled' | 'in-force' | 'retired';
}

const MAX_UNIT_PRICE_FEN = 100_000_00; // 100,000 元: a mistyped price must not reach a cashier
/** A start a little in the past is "now" (the approver may take minutes); anything earlier would reprice history. */
const BACKDATE_SLACK_MS = 24 * 3_600_000;

export function formatRule(rule: Pick<PriceRule, 'project' | 'certType' | 'unitPriceFen' | 'allowedYears' | 'effectiveFrom' | 'effectiveTo'>): string {
  const to = rule.effectiveTo ? ` 至 ${formatDateTime(rule.effectiveTo)}` : '';
  return `${rule.project} / ${rule.certType}：${fenToYuanString(rule.unitPriceFen)} 元/个/年，${rule.allowedYears} 年，${formatDateTime(rule.effectiveFrom)} 起${to}`;
}

/** What a form posts (yuan, 年限 list, Asia/Shanghai local times, 税率 as 6%) → the fields of a rule, or a ValidationError in Chinese. */
export function parseRuleForm(form: Record<string, string>): RuleFields {
  const project = (form.project ?? '').trim();
  const certType = (form.certType ?? '').trim();
  if (!project || project.length > 64) throw new ValidationError('请填写项目（1-64 字）', 'project');
  if (!certType || certType.length > 32) throw new ValidationError('请填写证书类型（1-32 字）', 'certType');
  let unitPriceFen: number;
  try {
    unitPriceFen = yuanStringToFen(form.unitPrice ?? '');
  } catch {
    throw new ValidationError('单价请填写金额（元，最多两位小数）', `unit price ${form.unitPrice}`);
  }
  if (unitPriceFen <= 0 || unitPriceFen > MAX_UNIT_PRICE_FEN) throw new ValidationError('单价须在 0.01 至 100000 元之间', `unit price ${unitPriceFen}`);
  const years = (form.allowedYears ?? '').split(/[,，、\s]+/).filter(Boolean).map(Number);
  const allowedYears = [...new Set(years)].sort((a, b) => a - b);
  if (!allowedYears.length || allowedYears.some((y) => !Number.isInteger(y) || y < MIN_YEARS || y > MAX_YEARS)) {
    throw new ValidationError(`可选年限须为 ${MIN_YEARS}-${MAX_YEARS} 之间的整数，用逗号分隔`, `allowed years ${form.allowedYears}`);
  }
  const effectiveFrom = parseLocalTime(form.effectiveFrom, '生效时间');
  const effectiveTo = form.effectiveTo?.trim() ? parseLocalTime(form.effectiveTo, '失效时间') : null;
  const rate = (form.taxRate ?? '6').trim().replace(/%$/, '');
  let taxRateBp: number;
  try {
    taxRateBp = parseTaxRate((Number(rate) / 100).toFixed(4));
  } catch {
    throw new ValidationError('税率请填写百分比，如 6', `tax rate ${form.taxRate}`);
  }
  if (!Number.isFinite(Number(rate))) throw new ValidationError('税率请填写百分比，如 6', `tax rate ${form.taxRate}`);
  const invoiceItem = (form.invoiceItem ?? '').trim() || '*信息技术服务*数字证书服务费';
  const taxCode = (form.taxCode ?? '').trim() || '3040201990000000000';
  if (!/^\*[^*]+\*[^*]+$/.test(invoiceItem) || invoiceItem.length > 64) throw new ValidationError('开票项目格式为 *类别*名称', `invoice item ${invoiceItem}`);
  if (!/^\d{19}$/.test(taxCode)) throw new ValidationError('税收分类编码为 19 位数字', `tax code ${taxCode}`);
  return { project, certType, unitPriceFen, allowedYears: allowedYears.join(','), effectiveFrom, effectiveTo, invoiceItem, taxCode, taxRateBp };
}

/** "2026-12-10T08:00" (datetime-local, Asia/Shanghai) → ISO. */
export function parseLocalTime(text: string | undefined, label: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$/.exec((text ?? '').trim());
  if (!m) throw new ValidationError(`请填写${label}`, `${label} ${text}`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]! - 8, +m[5]!);
  if (!Number.isFinite(ms)) throw new ValidationError(`${label}无效`, `${label} ${text}`);
  return new Date(ms).toISOString();
}

/** One line for the approvals list. */
export function describePriceRule(p: PriceRulePayload): string {
  if (p.action === 'retire') return `停用价格规则 #${p.ruleId}，${formatDateTime(new Date(p.effectiveTo))} 起失效`;
  const rule = { ...p, effectiveFrom: new Date(p.effectiveFrom), effectiveTo: p.effectiveTo ? new Date(p.effectiveTo) : null };
  return `${p.action === 'create' ? '新建' : `修改 #${p.ruleId}：`}${formatRule(rule)}，税率 ${taxRatePercent(p.taxRateBp)}`;
}

export class PriceRuleAdmin {
  private readonly repo = new PriceRuleRepository();

  constructor(private readonly deps: Pick<Deps, 'db' | 'clock'>) {}

  async list(): Promise<RuleView[]> {
    const em = this.deps.db.manager;
    const rules = await em.find(PriceRuleEntity, { order: { project: 'ASC', certType: 'ASC', effectiveFrom: 'DESC', id: 'DESC' } });
    const used = await em.createQueryBuilder(OrderLineEntity, 'l').select('l.priceRuleId', 'ruleId').addSelect('COUNT(DISTINCT l.orderId)', 'n').groupBy('l.priceRuleId').getRawMany<{ ruleId: number; n: number | string }>();
    const counts = new Map(used.map((u) => [Number(u.ruleId), Number(u.n)]));
    const now = this.deps.clock.nowMs();
    return rules.map((r) => ({
      ...r, usedByOrders: counts.get(r.id) ?? 0,
      state: r.effectiveTo && r.effectiveTo.getTime() <= now ? 'retired' : r.effectiveFrom.getTime() > now ? 'scheduled' : 'in-force',
    }));
  }

  async byId(id: number): Promise<RuleView> {
    const rule = (await this.list()).find((r) => r.id === id);
    if (!rule) throw new NotFoundError('没有这条价格规则', `price rule ${id}`);
    return rule;
  }

  /** At proposal time: the same checks execute repeats, so a page cannot propose what would be refused later. */
  async validate(p: PriceRulePayload): Promise<void> {
    await this.check(this.deps.db.manager, p, 'propose');
  }

  /** At approval. Idempotent: a second run of a create finds the rule the first made (same kind, price and start). */
  async execute(p: PriceRulePayload): Promise<Record<string, unknown>> {
    const at = new Date(this.deps.clock.nowMs());
    return inTransaction(this.deps.db, async (tx) => {
      if (p.action === 'create') {
        const existing = await tx.findOne(PriceRuleEntity, { where: { project: p.project, certType: p.certType, unitPriceFen: p.unitPriceFen, effectiveFrom: new Date(p.effectiveFrom) } });
        if (existing) return { ruleId: existing.id, already: true };
        await this.check(tx, p, 'execute');
        const rule = await this.repo.add(tx, toRow(p), at);
        return { ruleId: rule.id, rule: formatRule(rule) };
      }
      await this.check(tx, p, 'execute');
      if (p.action === 'edit') {
        // The NOT EXISTS in the UPDATE itself: an order priced between the check and here still wins.
        const result = await tx.createQueryBuilder().update(PriceRuleEntity).set(toRow(p))
          .where('id = :id', { id: p.ruleId })
          .andWhere(`NOT EXISTS (SELECT 1 FROM ${OrderLineEntity.options.tableName} l WHERE l.price_rule_id = :id)`, { id: p.ruleId })
          .execute();
        if (!result.affected) throw usedError(p.ruleId);
        return { ruleId: p.ruleId, edited: true };
      }
      const rule = (await tx.findOne(PriceRuleEntity, { where: { id: p.ruleId } }))!;
      const to = new Date(p.effectiveTo);
      if (rule.effectiveTo && rule.effectiveTo.getTime() <= to.getTime()) return { ruleId: p.ruleId, already: true, effectiveTo: rule.effectiveTo.toISOString() };
      await tx.update(PriceRuleEntity, { id: p.ruleId }, { effectiveTo: to });
      return { ruleId: p.ruleId, effectiveTo: to.toISOString() };
    });
  }

  private async check(em: EntityManager, p: PriceRulePayload, when: 'propose' | 'execute'): Promise<void> {
    const now = this.deps.clock.nowMs();
    if (p.action === 'retire') {
      const rule = await em.findOne(PriceRuleEntity, { where: { id: p.ruleId } });
      if (!rule) throw new NotFoundError('没有这条价格规则', `price rule ${p.ruleId}`);
      const to = new Date(p.effectiveTo).getTime();
      if (!Number.isFinite(to)) throw new ValidationError('请填写失效时间', 'retire effectiveTo');
      if (when === 'propose' && to < now - 60_000) throw new ValidationError('失效时间不能早于现在（已下的订单按原规则计价）', `retire at ${p.effectiveTo} before now`);
      if (to < rule.effectiveFrom.getTime()) throw new ValidationError('失效时间不能早于生效时间', 'retire before effectiveFrom');
      return;
    }
    const from = new Date(p.effectiveFrom).getTime();
    if (when === 'propose' && from < now - BACKDATE_SLACK_MS) throw new ValidationError('生效时间不能早于今天：已下的订单不能改价', `effectiveFrom ${p.effectiveFrom} in the past`);
    if (p.effectiveTo && new Date(p.effectiveTo).getTime() <= from) throw new ValidationError('失效时间须晚于生效时间', 'effectiveTo <= effectiveFrom');
    if (!allowedYearsOf(p).length) throw new ValidationError(`可选年限须为 ${MIN_YEARS}-${MAX_YEARS} 之间的整数`, `allowed years ${p.allowedYears}`);
    if (!Number.isSafeInteger(p.unitPriceFen) || p.unitPriceFen <= 0 || p.unitPriceFen > MAX_UNIT_PRICE_FEN) throw new ValidationError('单价须在 0.01 至 100000 元之间', `unit price ${p.unitPriceFen}`);
    if (p.action === 'edit') {
      const rule = await em.findOne(PriceRuleEntity, { where: { id: p.ruleId } });
      if (!rule) throw new NotFoundError('没有这条价格规则', `price rule ${p.ruleId}`);
      const used = await em.count(OrderLineEntity, { where: { priceRuleId: p.ruleId } });
      if (used > 0) throw usedError(p.ruleId);
    }
  }
}

function usedError(ruleId: number): ConflictError {
  return new ConflictError('该价格规则已被订单使用，不能修改；请新建一条规则（可设定生效时间），并停用旧规则', `price rule ${ruleId} is referenced by order lines`);
}

function toRow(p: RuleFields): Omit<PriceRule, 'id' | 'createdAt'> {
  return {
    project: p.project, certType: p.certType, unitPriceFen: p.unitPriceFen, allowedYears: p.allowedYears,
    effectiveFrom: new Date(p.effectiveFrom), effectiveTo: p.effectiveTo ? new Date(p.effectiveTo) : null,
    invoiceItem: p.invoiceItem, taxCode: p.taxCode, taxRateBp: p.taxRateBp,
  };
}
