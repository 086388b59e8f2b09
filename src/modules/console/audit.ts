import type Koa from 'koa';
import { type Deps } from '../../deps';
import { RenewalAuditLog } from '../renewals/audit';
import { clientIp } from './network';

export interface ConsoleAuditEntry {
  /** Short verb, e.g. 'login', 'approve', 'export', 'refund.propose': the chain's step is `console.<action>` (32 chars max). */
  action: string;
  /** What it was done to: 'order:R20261203…', 'operator:3', 'proposal:12'. */
  subject: string;
  before?: unknown;
  after?: unknown;
  detail?: Record<string, unknown>;
}

/**
 * Every operator action goes to the same hash-chained log as renewals (renewal_audit, step `console.<action>`):
 * one chain to verify, one signed head exported daily. Call it after the change has committed. The append never
 * fails the action (it happened); a lost entry is logged loudly by the log itself.
 */
export function consoleAudit(deps: Pick<Deps, 'db' | 'clock' | 'logger'>) {
  const log = new RenewalAuditLog(deps);
  return {
    async record(ctx: Koa.Context | null, entry: ConsoleAuditEntry, who?: { id: number; username: string }): Promise<void> {
      const op = who ?? ctx?.state.operator;
      await log.record({
        renewalId: null,
        step: `console.${entry.action}`.slice(0, 32),
        detail: {
          operator: op ? { id: op.id, username: op.username } : null,
          ip: ctx ? clientIp(ctx) : null,
          subject: entry.subject,
          before: entry.before,
          after: entry.after,
          ...entry.detail,
        },
      });
    },
  };
}
