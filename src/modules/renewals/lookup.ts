import { type Deps } from '../../deps';
import { RenewalIssuanceEntity } from './entities';
import { type RenewalService } from './service';

/** The answers of `POST /gdca-page/api/lookup` (docs/renewal.md). */
export type LookupAnswer =
  | { kind: 'entitled'; orderNo: string; years: number; currentNotAfter: string; newNotAfter: string; capped: boolean; capNote?: string; renewal?: { id: number; state: string; serialHex?: string; keyId?: string } }
  | { kind: 'unpaid'; priceFen: number | null; years: number; payUrl: string }
  | { kind: 'transfer-waiting'; orderNo: string; deadline: string }
  | { kind: 'renewed'; serialHex: string; notAfter: string; certificatePem: string }
  | { kind: 'not-renewable'; reason: 'revoked' | 'not-yet' | 'closed'; message: string; opensAt?: string }
  | { kind: 'unknown'; message: string };

/** What the server knows about a certificate on the key; reads only. */
export async function lookupCertificate(deps: Deps, service: RenewalService, pem: string, at: Date): Promise<LookupAnswer> {
  let known;
  try {
    known = await service.known(pem);
  } catch {
    return { kind: 'unknown', message: '该证书尚未绑定到微信，请先在“获取证书绑定码”页面完成绑定' };
  }
  const { parsed, row } = known;
  const e = await service.entitlement(row, at);
  const issuances = deps.db.getRepository(RenewalIssuanceEntity);
  switch (e.kind) {
    case 'entitled': {
      const v = await service.validityFor(parsed, row, e.line.years, at);
      const current = e.renewal?.currentIssuanceId ? await issuances.findOneBy({ id: e.renewal.currentIssuanceId }) : null;
      return {
        kind: 'entitled', orderNo: e.order.orderNo, years: e.line.years, currentNotAfter: row.notAfter.toISOString(),
        // Once issued, the certificate's own date is the truth (the day it was issued counts).
        newNotAfter: (current?.notAfter ?? v.notAfter).toISOString(), capped: v.cappedBy !== null, capNote: v.capNote,
        renewal: e.renewal ? { id: e.renewal.id, state: e.renewal.state, serialHex: current?.serialHex, keyId: current?.keyId ?? undefined } : undefined,
      };
    }
    case 'renewed': {
      const installed = await issuances.findOneBy({ renewalId: e.renewal.id, state: 'INSTALLED' });
      return { kind: 'renewed', serialHex: installed!.serialHex, notAfter: installed!.notAfter.toISOString(), certificatePem: installed!.certificatePem };
    }
    case 'transfer-waiting': return { kind: 'transfer-waiting', orderNo: e.order.orderNo, deadline: e.order.expiresAt.toISOString() };
    case 'revoked': return { kind: 'not-renewable', reason: 'revoked', message: '该证书已吊销，无法续期' };
    case 'outside-window': return e.state === 'not-yet'
      ? { kind: 'not-renewable', reason: 'not-yet', message: '该证书尚未到可续期时间', opensAt: e.opensAt.toISOString() }
      : { kind: 'not-renewable', reason: 'closed', message: '已超过续期期限，请联系 CA 重新办理' };
    default:
      return { kind: 'unpaid', priceFen: e.unitPriceFen, years: 1, payUrl: `${deps.config.publicBaseUrl}/h5/renew?cert=${row.id}` };
  }
}
