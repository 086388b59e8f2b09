import { createHash, randomBytes } from 'node:crypto';
import { type Deps } from '../../src/deps';
import { CertificateEntity } from '../../src/modules/certificates/entities';
import { type Order, OrderEntity, OrderLineEntity } from '../../src/modules/orders/entities';
import { type OrderState } from '../../src/modules/orders/states';
import { RenewalEntity } from '../../src/modules/renewals/entities';
import { writeSearchKeys } from '../../src/modules/orders/search-keys';

/**
 * Rows for the console's search and dashboard tests, written straight into the tables (what the order, payment and
 * renewal journeys leave behind), so a test can place hundreds of orders at chosen times in well under a second.
 * The journeys themselves are tested elsewhere; test/helpers/paid-orders.ts makes one through the services.
 */
let seq = 0;
const DAY = 86_400_000;

export interface CertRow { organisation: string; uscc?: string | null; notAfter?: Date; status?: 'valid' | 'revoked' | 'superseded'; usage?: 'sign' | 'encrypt' }

export async function insertCertificate(deps: Deps, c: CertRow): Promise<number> {
  const n = ++seq;
  const fp = createHash('sha256').update(`${n}-${randomBytes(8).toString('hex')}`).digest('hex');
  const now = new Date(deps.clock.nowMs());
  const res = await deps.db.manager.insert(CertificateEntity, {
    fingerprintSha256: fp, serialHex: fp.slice(0, 16).toUpperCase(), issuerDn: 'CN=Test CA', subjectDn: `O=${c.organisation}`, organization: c.organisation,
    creditCode: c.uscc ?? null, commonName: c.organisation, algorithm: 'RSA-2048', usage: c.usage ?? 'sign', mediaSerial: `M${n}`, project: '梅州市住房公积金', certType: '机构证书',
    notBefore: new Date(now.getTime() - 300 * DAY), notAfter: c.notAfter ?? new Date(now.getTime() + 200 * DAY), status: c.status ?? 'valid', revokedAt: null,
    supersededById: null, pairCertificateId: null, pem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', sandbox: false, createdAt: now, updatedAt: now,
  });
  return Number(res.identifiers[0].id);
}

export interface OrderRow {
  organisation?: string;
  uscc?: string | null;
  certificateId?: number;
  openid?: string;
  state?: OrderState;
  createdAt: Date;
  paidAt?: Date | null;
  totalFen?: number;
  method?: 'wechatpay' | 'transfer' | null;
  expiresAt?: Date;
}

/** An order of one line for a certificate of `organisation` (a new certificate unless `certificateId`). */
export async function insertOrder(deps: Deps, o: OrderRow): Promise<{ id: number; orderNo: string; certificateId: number }> {
  const n = ++seq;
  const certificateId = o.certificateId ?? await insertCertificate(deps, { organisation: o.organisation ?? `测试单位${n}`, uscc: o.uscc });
  const day = new Date(o.createdAt.getTime() + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '');
  const orderNo = `R${day}${randomBytes(16).toString('hex').replace(/[^2-9a-hj-np-z]/gi, '').toUpperCase().padEnd(16, 'X').slice(0, 16).replace(/[IO]/g, 'X')}`;
  const totalFen = o.totalFen ?? 20000;
  const state = o.state ?? (o.paidAt ? 'PAID' : 'PENDING_PAYMENT');
  const row: Omit<Order, 'id'> = {
    orderNo, openid: o.openid ?? `o-test-${n}`, state, totalFen, currency: 'CNY', years: 1, paymentMethod: o.method ?? (o.paidAt ? 'wechatpay' : null),
    expiresAt: o.expiresAt ?? new Date(o.createdAt.getTime() + DAY), paidAt: o.paidAt ?? null, paidAmountFen: o.paidAt ? totalFen : null,
    transactionId: o.paidAt ? `4200${n}` : null, closedAt: state === 'CLOSED' ? new Date(o.createdAt.getTime() + DAY) : null, closeReason: state === 'CLOSED' ? 'expired' : null,
    fulfilledAt: null, refundingAt: null, refundedAt: null, sandbox: false, createdAt: o.createdAt, updatedAt: o.createdAt,
  };
  const res = await deps.db.manager.insert(OrderEntity, row);
  const id = Number(res.identifiers[0].id);
  await deps.db.manager.insert(OrderLineEntity, { orderId: id, certificateId, years: 1, unitPriceFen: totalFen, amountFen: totalFen, priceRuleId: 1, openKey: null });
  await writeSearchKeys(deps.db.manager, id, o.createdAt, [certificateId]);
  return { id, orderNo, certificateId };
}

/** A renewal of the order's line, INSTALLED at `installedAt`. */
export async function insertInstalledRenewal(deps: Deps, order: { id: number; orderNo: string; certificateId: number }, installedAt: Date): Promise<void> {
  const line = await deps.db.manager.findOneOrFail(OrderLineEntity, { where: { orderId: order.id } });
  await deps.db.manager.insert(RenewalEntity, {
    orderLineId: line.id, orderId: order.id, orderNo: order.orderNo, certificateId: order.certificateId, openid: 'o-renewed', years: 1, algorithm: 'RSA-2048',
    dual: false, state: 'INSTALLED', leaseToken: null, leaseUntil: null, challengeSession: null, currentIssuanceId: null, newCertificateId: null,
    installedAt, oldRevokedAt: null, sandbox: false, createdAt: installedAt, updatedAt: installedAt,
  });
}
