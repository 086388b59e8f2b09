/** 财务 (statements, transfers, refunds, bills), 客服 (bindings, handlers, invoices, certificates), 管理员 (price rules, operators, settings). */
export const OPERATOR_ROLES = ['finance', 'support', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const ROLE_LABELS: Record<OperatorRole, string> = { finance: '财务', support: '客服', admin: '管理员' };

export const isOperatorRole = (value: string): value is OperatorRole => (OPERATOR_ROLES as readonly string[]).includes(value);

/** Roles are stored as a comma list ('finance,support'); unknown names (a role since removed) are dropped. */
export function parseRoles(stored: string): OperatorRole[] {
  return stored.split(',').map((r) => r.trim()).filter(isOperatorRole);
}

export const formatRoles = (roles: readonly OperatorRole[]) => OPERATOR_ROLES.filter((r) => roles.includes(r)).join(',');
