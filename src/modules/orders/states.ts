import { ConflictError } from '../../lib/errors';

/**
 * The order state machine, in one table. PENDING_PAYMENT → PAID → FULFILLED (after the renewal), or
 * PENDING_PAYMENT → CLOSED (expired or cancelled), or PAID → REFUNDING → REFUNDED. Nothing else moves.
 */
export const ORDER_STATES = ['PENDING_PAYMENT', 'PAID', 'FULFILLED', 'CLOSED', 'REFUNDING', 'REFUNDED'] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const TRANSITIONS: Readonly<Record<OrderState, readonly OrderState[]>> = {
  PENDING_PAYMENT: ['PAID', 'CLOSED'],
  PAID: ['FULFILLED', 'REFUNDING'],
  FULFILLED: [],
  CLOSED: [],
  REFUNDING: ['REFUNDED'],
  REFUNDED: [],
};

export function canTransition(from: OrderState, to: OrderState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * An order is "open" for its certificates while it still stands for a renewal that has not happened:
 * PENDING_PAYMENT (the handler may still pay) and PAID (paid, the renewal on the PC not yet done). A second
 * order for the same certificate in either state would take a second payment for one renewal. It stops
 * being open when it is CLOSED, FULFILLED (renewed) or REFUNDING (the entitlement is withdrawn the moment a
 * refund starts: renewal requires PAID, so the handler may order again).
 */
export function isOpen(state: OrderState): boolean {
  return state === 'PENDING_PAYMENT' || state === 'PAID';
}

/** A transition the table does not allow from the order's current state (e.g. closing a PAID order). */
export class InvalidTransitionError extends ConflictError {
  constructor(readonly orderNo: string, readonly from: OrderState, readonly to: OrderState) {
    super('订单状态已变化，请刷新后查看', `order ${orderNo}: ${from} → ${to} is not allowed`);
  }
}
