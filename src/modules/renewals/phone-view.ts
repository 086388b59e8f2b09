import { type EntityManager, In } from 'typeorm';
import { CertificateEntity } from '../certificates/entities';
import { formatDate, formatDateTime } from '../certificates/view-model';
import { OrderLineEntity } from '../orders/entities';
import { OrderRepository } from '../orders/repository';
import { RenewalEntity, RenewalIssuanceEntity } from './entities';

/** The PC renewal page's address (seed 五): typed into a PC's browser, so the phone shows it and lets it be copied. */
export const renewalAddress = (publicBaseUrl: string) => `${publicBaseUrl}/gdca-page/redirect?busyType=8`;

export interface PaidEntitlementView { orderNo: string; years: number }
export interface RenewalHistoryView { installedAt: string; oldSerial: string; newSerial: string; newNotAfter: string; newCertificateId: number }

/**
 * What the phone pages show about renewal, for the given certificates: the paid entitlement (a line of a PAID
 * order: 已缴费 · 请在电脑上续期, never 去续期 again), and the renewal history (each INSTALLED renewal the certificate
 * was renewed by or renewed from).
 */
export async function renewalViewsOf(em: EntityManager, certificateIds: number[]): Promise<{ paid: Map<number, PaidEntitlementView>; history: Map<number, RenewalHistoryView[]> }> {
  const paid = new Map<number, PaidEntitlementView>();
  const history = new Map<number, RenewalHistoryView[]>();
  if (!certificateIds.length) return { paid, history };
  for (const { certificateId, order } of await new OrderRepository().openOrdersOf(em, certificateIds)) {
    if (order.state !== 'PAID') continue;
    const line = await em.findOne(OrderLineEntity, { where: { orderId: order.id, certificateId } });
    if (line) paid.set(certificateId, { orderNo: order.orderNo, years: line.years });
  }
  const renewals = await em.find(RenewalEntity, { where: [{ certificateId: In(certificateIds), state: 'INSTALLED' }, { newCertificateId: In(certificateIds), state: 'INSTALLED' }], order: { installedAt: 'DESC' } });
  if (!renewals.length) return { paid, history };
  const issued = await em.find(RenewalIssuanceEntity, { where: { renewalId: In(renewals.map((r) => r.id)), state: 'INSTALLED' } });
  const olds = await em.find(CertificateEntity, { where: { id: In(renewals.map((r) => r.certificateId)) }, select: { id: true, serialHex: true } });
  for (const r of renewals) {
    const i = issued.find((x) => x.renewalId === r.id);
    if (!i || !r.installedAt || !r.newCertificateId) continue;
    const view = {
      installedAt: formatDateTime(r.installedAt), oldSerial: (olds.find((o) => o.id === r.certificateId)?.serialHex ?? '').toUpperCase(),
      newSerial: i.serialHex.toUpperCase(), newNotAfter: formatDate(i.notAfter), newCertificateId: r.newCertificateId,
    };
    for (const id of [r.certificateId, r.newCertificateId]) if (certificateIds.includes(id)) history.set(id, [...(history.get(id) ?? []), view]);
  }
  return { paid, history };
}
