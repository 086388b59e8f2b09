import type Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { type ApprovalKind } from './approvals';
import { dashboardSection } from '../dashboard/routes';
import { ordersSection } from '../orders/console-routes';
import { auditSection } from './audit-routes';
import { operatorsSection } from './operators-routes';
import { type OperatorRole } from './roles';

/** One area of the console: a nav entry and its routes. Each feature adds one line to consoleSections(). */
export interface ConsoleSection {
  /** The nav link, e.g. '/orders'. */
  path: string;
  /** Chinese nav label, e.g. '订单'. */
  title: string;
  /** Who sees it in the nav; every route still checks with requireRole. */
  roles: OperatorRole[];
  /** @koa/router Router with absolute paths ('/orders/:no'). */
  routes(deps: Deps, render: RenderPage): Router;
  /** Four-eyes kinds this section owns. */
  approvalKinds?: ApprovalKind[];
}

/**
 * THE list of sections, in nav order: one line per feature (merging two features' lines = keep both). A function,
 * not a constant, so it is read after every module has loaded: a section module imports the console core, and the
 * core's approvals read this list, so a constant could capture a section that is still `undefined` mid-cycle.
 */
export function consoleSections(): ConsoleSection[] {
  return [
    dashboardSection,
    ordersSection,
    operatorsSection,
    auditSection,
  ];
}

export function allApprovalKinds(sections: ConsoleSection[] = consoleSections()): ApprovalKind[] {
  return sections.flatMap((s) => s.approvalKinds ?? []);
}
