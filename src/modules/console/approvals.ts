import type Koa from 'koa';
import { In } from 'typeorm';
import { type Deps } from '../../deps';
import { AppError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors';
import { consoleAudit } from './audit';
import { type Proposal, ProposalEntity, type ProposalStatus } from './entities';
import { operatorOf } from './guard';
import { type OperatorRole, ROLE_LABELS } from './roles';
import { allApprovalKinds } from './sections';

/** A four-eyes action (refund, manual credit, red-letter invoice, revocation, price rule, role grant). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds kinds of every payload type
export interface ApprovalKind<P = any> {
  /** 'refund', 'manual-credit', 'red-letter', 'cert-revoke', 'price-rule', 'role-grant'. */
  kind: string;
  /** Who may propose AND approve. */
  role: OperatorRole;
  /** Chinese, e.g. '退款'. */
  title: string;
  /** One line for the list, Chinese. */
  describe(payload: P): string;
  /** At propose time: throw ValidationError with a Chinese message. */
  validate?(deps: Deps, payload: P): Promise<void>;
  /** MUST be idempotent (it may run again after a crash or a retry); returns the result shown on the proposal. */
  execute(deps: Deps, payload: P, ctx: { proposalId: number; proposerId: number; approverId: number }): Promise<Record<string, unknown>>;
}

export const STATUS_LABELS: Record<ProposalStatus, string> = { PROPOSED: '待批准', APPROVED: '执行中', EXECUTED: '已执行', FAILED: '执行失败', REJECTED: '已驳回' };
/** An APPROVED proposal this old did not finish executing (the process died): an approver may run it again. */
const STUCK_MS = 5 * 60_000;

export interface ProposalView extends Proposal {
  title: string;
  description: string;
  statusLabel: string;
  payloadObject: unknown;
  resultObject: unknown;
}

/**
 * Four-eyes: one operator proposes, another with the kind's role approves, then the kind executes. Approval is a
 * conditional UPDATE (PROPOSED → APPROVED, proposer ≠ approver), so of two approvers only one wins and nobody approves
 * their own proposal even by racing. Execution runs after that commit; its outcome is written with the result or the
 * error (FAILED keeps the error; an approver may retry, the kind's execute being idempotent).
 */
export function approvals(deps: Deps, kinds: ApprovalKind[] = allApprovalKinds()) {
  const repo = deps.db.getRepository(ProposalEntity);
  const audit = consoleAudit(deps);
  const byKind = new Map(kinds.map((k) => [k.kind, k]));
  const now = () => new Date(deps.clock.nowMs());

  const kindOf = (kind: string): ApprovalKind => {
    const k = byKind.get(kind);
    if (!k) throw new NotFoundError('未知的审批类型', `approval kind ${kind} is not registered`);
    return k;
  };
  const mustHoldRole = (ctx: Koa.Context, k: ApprovalKind) => {
    const op = operatorOf(ctx);
    if (!op.roles.includes(k.role)) throw new ForbiddenError(`${k.title}仅限${ROLE_LABELS[k.role]}提交和批准`, `console: ${op.username} lacks ${k.role} for ${k.kind}`);
    return op;
  };
  const load = async (id: number) => {
    const p = await repo.findOne({ where: { id } });
    if (!p) throw new NotFoundError('申请不存在', `proposal ${id} not found`);
    return p;
  };
  const view = (p: Proposal): ProposalView => {
    const k = byKind.get(p.kind);
    const payloadObject = JSON.parse(p.payload) as unknown;
    let description = p.kind;
    try {
      description = k ? k.describe(payloadObject) : p.kind;
    } catch { /* a payload an older version wrote: show the kind */ }
    return { ...p, title: k?.title ?? p.kind, description, statusLabel: STATUS_LABELS[p.status], payloadObject, resultObject: p.result ? JSON.parse(p.result) : null };
  };

  async function execute(ctx: Koa.Context, p: Proposal, approverId: number): Promise<Proposal> {
    const k = kindOf(p.kind);
    let outcome: { status: 'EXECUTED'; result: string; error: null } | { status: 'FAILED'; result: null; error: string };
    try {
      const result = await k.execute(deps, JSON.parse(p.payload), { proposalId: p.id, proposerId: p.proposerId, approverId });
      outcome = { status: 'EXECUTED', result: JSON.stringify(result ?? {}), error: null };
    } catch (err) {
      deps.logger.warn({ err, proposalId: p.id, kind: p.kind }, 'console proposal execution failed');
      const message = err instanceof AppError ? err.userMessage : `执行出错：${(err as Error).message}`;
      outcome = { status: 'FAILED', result: null, error: message.slice(0, 500) };
    }
    await repo.createQueryBuilder().update(ProposalEntity)
      .set({ status: outcome.status, result: outcome.result, error: outcome.error, attempts: () => 'attempts + 1', updatedAt: now() })
      .where('id = :id AND status = :approved', { id: p.id, approved: 'APPROVED' })
      .execute();
    const after = await load(p.id);
    await audit.record(ctx, { action: 'proposal.execute', subject: `proposal:${p.id}`, after: { status: after.status, result: outcome.result ? JSON.parse(outcome.result) : undefined, error: outcome.error ?? undefined }, detail: { kind: p.kind } });
    return after;
  }

  return {
    kinds: () => kinds,
    kindOf,

    async propose(ctx: Koa.Context, kind: string, payload: object, reason: string): Promise<{ id: number }> {
      const k = kindOf(kind);
      const op = mustHoldRole(ctx, k);
      const why = reason.trim();
      if (!why) throw new ValidationError('请填写申请理由', 'proposal without a reason');
      if (why.length > 500) throw new ValidationError('申请理由不能超过 500 字', 'proposal reason too long');
      await k.validate?.(deps, payload);
      const at = now();
      const saved = await repo.save({
        kind, payload: JSON.stringify(payload), reason: why, status: 'PROPOSED', proposerId: op.id, approverId: null, decidedAt: null, decisionReason: null,
        result: null, error: null, attempts: 0, createdAt: at, updatedAt: at,
      } as Proposal);
      await audit.record(ctx, { action: 'proposal.propose', subject: `proposal:${saved.id}`, after: { kind, payload, reason: why } });
      return { id: saved.id };
    },

    /** Approves and executes; on a FAILED (or stuck APPROVED) proposal, runs it again. Refuses the proposer. */
    async approve(ctx: Koa.Context, id: number): Promise<Proposal> {
      const p = await load(id);
      const k = kindOf(p.kind);
      const op = mustHoldRole(ctx, k);
      if (p.proposerId === op.id) throw new ForbiddenError('不能批准自己提交的申请', `operator ${op.id} tried to approve own proposal ${id}`);
      const retry = p.status === 'FAILED' || (p.status === 'APPROVED' && deps.clock.nowMs() - (p.decidedAt?.getTime() ?? 0) > STUCK_MS);
      const from: ProposalStatus = retry ? p.status : 'PROPOSED';
      const won = await repo.createQueryBuilder().update(ProposalEntity)
        .set({ status: 'APPROVED', approverId: op.id, decidedAt: now(), error: null, updatedAt: now() })
        .where('id = :id AND status = :from AND proposer_id <> :me', { id, from, me: op.id })
        .execute();
      if ((won.affected ?? 0) !== 1) {
        const current = await load(id);
        throw new ConflictError(`该申请已被处理（${STATUS_LABELS[current.status]}）`, `proposal ${id} is ${current.status}, not ${from}`);
      }
      await audit.record(ctx, { action: retry ? 'proposal.retry' : 'proposal.approve', subject: `proposal:${id}`, before: { status: from }, after: { status: 'APPROVED' }, detail: { kind: p.kind } });
      return execute(ctx, { ...p, status: 'APPROVED', approverId: op.id }, op.id);
    },

    async reject(ctx: Koa.Context, id: number, reason: string): Promise<Proposal> {
      const p = await load(id);
      const op = mustHoldRole(ctx, kindOf(p.kind));
      const why = reason.trim();
      if (!why) throw new ValidationError('请填写驳回理由', 'rejection without a reason');
      const done = await repo.createQueryBuilder().update(ProposalEntity)
        .set({ status: 'REJECTED', approverId: op.id, decidedAt: now(), decisionReason: why.slice(0, 500), updatedAt: now() })
        .where('id = :id AND status = :proposed', { id, proposed: 'PROPOSED' })
        .execute();
      if ((done.affected ?? 0) !== 1) throw new ConflictError('该申请已被处理，不能驳回', `proposal ${id} is not PROPOSED`);
      await audit.record(ctx, { action: 'proposal.reject', subject: `proposal:${id}`, before: { status: 'PROPOSED' }, after: { status: 'REJECTED', reason: why }, detail: { kind: p.kind } });
      return load(id);
    },

    async get(id: number): Promise<ProposalView> {
      return view(await load(id));
    },

    /** Newest first; only kinds whose role the viewer holds when `roles` is given. */
    async list(opts: { status?: ProposalStatus; kind?: string; roles?: OperatorRole[]; offset: number; pageSize: number }): Promise<{ rows: ProposalView[]; total: number }> {
      const visible = kinds.filter((k) => !opts.roles || opts.roles.includes(k.role)).map((k) => k.kind).filter((k) => !opts.kind || k === opts.kind);
      if (visible.length === 0) return { rows: [], total: 0 };
      const [rows, total] = await repo.findAndCount({
        where: { kind: In(visible), ...(opts.status ? { status: opts.status } : {}) }, order: { id: 'DESC' }, skip: opts.offset, take: opts.pageSize,
      });
      return { rows: rows.map(view), total };
    },
  };
}
