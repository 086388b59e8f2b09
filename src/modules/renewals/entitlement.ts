import { type EntityManager } from 'typeorm';
import { type Certificate } from '../certificates/entities';
import { type ProjectRules } from '../certificates/projects';
import { type Order, OrderEntity, type OrderLine, OrderLineEntity } from '../orders/entities';
import { PriceRuleRepository } from '../orders/price-rules';
import { OrderRepository } from '../orders/repository';
import { type Renewal, RenewalEntity } from './entities';

/**
 * What entitles a certificate to a renewal: a line of a PAID order holding it (the line keeps its open key while
 * the order is PAID). Everything else is a reason the page can explain: not paid yet (the price and where to pay),
 * a 对公汇款 waiting for the money, already renewed, revoked, or outside the project's renewal window.
 */
export type Entitlement =
  | { kind: 'entitled'; order: Order; line: OrderLine; renewal: Renewal | null }
  | { kind: 'renewed'; renewal: Renewal }
  | { kind: 'unpaid'; unitPriceFen: number | null; allowedYears: number[] }
  | { kind: 'transfer-waiting'; order: Order }
  | { kind: 'revoked' }
  | { kind: 'outside-window'; state: 'not-yet' | 'closed'; opensAt: Date; closesAt: Date };

export async function entitlementOf(em: EntityManager, rules: ProjectRules, cert: Certificate, at: Date): Promise<Entitlement> {
  const installed = await em.findOne(RenewalEntity, { where: { certificateId: cert.id, state: 'INSTALLED' }, order: { id: 'DESC' } });
  if (installed) return { kind: 'renewed', renewal: installed };
  if (cert.status === 'revoked') return { kind: 'revoked' };
  const [open] = await new OrderRepository().openOrdersOf(em, [cert.id]);
  if (open?.order.state === 'PAID') {
    const line = await em.findOneOrFail(OrderLineEntity, { where: { orderId: open.order.id, certificateId: cert.id } });
    const renewal = await em.findOne(RenewalEntity, { where: { orderLineId: line.id } });
    // Paid inside the window: the renewal may finish after the window closes (the user paid for it).
    return { kind: 'entitled', order: open.order, line, renewal };
  }
  if (open?.order.state === 'PENDING_PAYMENT' && open.order.paymentMethod === 'transfer') return { kind: 'transfer-waiting', order: open.order };
  const state = rules.renewalState(cert.project, cert.notAfter, at);
  if (state !== 'open') return { kind: 'outside-window', state, ...rules.renewalPeriod(cert.project, cert.notAfter) };
  const rule = await new PriceRuleRepository().findInForce(em, cert.project, cert.certType, at);
  return { kind: 'unpaid', unitPriceFen: rule?.unitPriceFen ?? null, allowedYears: rule ? rule.allowedYears.split(',').map(Number) : [] };
}

/** The order of a renewal, re-read inside a transaction (its state decides whether it may still be fulfilled). */
export function orderOf(em: EntityManager, orderId: number): Promise<Order | null> {
  return em.findOne(OrderEntity, { where: { id: orderId } });
}
