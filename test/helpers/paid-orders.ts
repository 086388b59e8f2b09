import { type Deps } from '../../src/deps';
import { OrderService } from '../../src/modules/orders/service';
import { verifyHandler } from './handlers';
import { boundCertificate } from './pki-fixtures';

const DAY = 86_400_000;
let seq = 0;

/**
 * A renewal order of `openid`, paid by WeChat Pay (PAID, so invoiceable), the way the payment journey leaves it:
 * a bound certificate inside its renewal window, a verified handler, an order for one year, a credited payment.
 * `organization` names the certificate's 单位 (the invoice form's prefill).
 */
export async function paidOrder(deps: Deps, openid: string, opts: { organization?: string; sandbox?: boolean } = {}): Promise<{ orderNo: string; amountFen: number; organization: string }> {
  const now = deps.clock.nowMs();
  const organization = opts.organization ?? `梅州开票测试单位${++seq}${now % 100000}`;
  const cert = await boundCertificate(deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 20 * DAY), at: new Date(now), sandbox: opts.sandbox });
  await verifyHandler(deps, openid, { sandbox: opts.sandbox });
  const orders = new OrderService(deps);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  await orders.markPaid(order.orderNo, { method: 'wechatpay', amountFen: order.totalFen, transactionId: `4200${order.orderNo.slice(-16)}`, paidAt: new Date(now) });
  return { orderNo: order.orderNo, amountFen: order.totalFen, organization };
}
