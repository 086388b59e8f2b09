import { type DataSource, In } from 'typeorm';
import { StatementEntryEntity, TransferCodeEntity } from './entities';
import { REJECTION_NOTICE } from './service';

/**
 * What the order page shows about an order paid by 对公汇款: its 6-digit code, the organisation that must pay,
 * and the latest transfer that was turned down (汇款未通过) with its reason and what to do next. The same facts
 * the 汇款未通过 template message carries, so the page says them even when the message never arrived.
 */
export interface OrderTransferView {
  code: string;
  payer: string;
  rejection: { reason: string; nextStep: string; amountFen: number | null; at: Date } | null;
}

/** What the handler does next, per reason (the notice says why; this says how to get the order paid). */
const NEXT_STEP: Readonly<Record<string, string>> = {
  'amount-mismatch': '请按订单金额重新汇款，备注只填写验证码；金额不符的款项由 GDCA 工作人员核实后退回付款账户。',
  'name-mismatch': '请由证书所属单位的对公账户重新汇款，备注只填写验证码；其他账户汇出的款项由 GDCA 工作人员核实后退回。',
  'fiscal-payer': '请改用单位的一般对公账户（非财政、国库、零余额账户）重新汇款，或改用微信支付；已汇出的款项由 GDCA 工作人员核实后退回。',
  'late-payment': '款项到账时订单已关闭，此笔款项由 GDCA 工作人员核实后退回付款账户；如仍需续期，请重新下单。',
};

export async function orderTransferOf(db: DataSource, orderNo: string): Promise<OrderTransferView | null> {
  const code = await db.getRepository(TransferCodeEntity).findOne({ where: { orderNo } });
  if (!code) return null;
  const [line] = await db.getRepository(StatementEntryEntity).find({
    where: { orderNo, decision: 'exception', reason: In(Object.keys(REJECTION_NOTICE)) }, order: { id: 'DESC' }, take: 1,
  });
  return {
    code: code.code,
    payer: code.organizationName,
    rejection: line?.reason
      ? { reason: REJECTION_NOTICE[line.reason]!, nextStep: NEXT_STEP[line.reason] ?? '', amountFen: line.amountFen, at: line.importedAt }
      : null,
  };
}
