import { type Deps } from '../../deps';
import { ValidationError } from '../../lib/errors';
import { type ApprovalKind } from '../console/approvals';
import { OperatorService } from '../console/operators';
import { type ManualCredit, TransferExceptionService } from './service';

const yuan = (fen: number) => (fen / 100).toFixed(2);

function checkShape(p: ManualCredit): void {
  const ok = Number.isSafeInteger(p?.statementLineId) && typeof p.bankSerial === 'string' && typeof p.orderNo === 'string' && /^[A-Za-z0-9-]{1,32}$/.test(p.orderNo)
    && Number.isSafeInteger(p.amountFen) && typeof p.reason === 'string';
  if (!ok) throw new ValidationError('人工入账的内容不正确，请从异常队列重新提交', 'bad manual-credit payload');
}

const usernameOf = async (deps: Deps, id: number) => (await new OperatorService(deps).byId(id))?.username ?? `operator:${id}`;

/**
 * 人工入账 (four-eyes): a transfer line the matcher left as an exception, credited to the order a 财务 names, once a
 * second 财务 approves. Executed through the matcher's own settlement (TransferExceptionService.executeCredit), which
 * is idempotent by the line's bank serial: approving twice, or a retry after a crash, credits the order once.
 */
export const manualCreditKind: ApprovalKind<ManualCredit> = {
  kind: 'manual-credit',
  role: 'finance',
  title: '人工入账',
  describe: (p) => `流水 ${p.bankSerial}（${yuan(p.amountFen)} 元）入账到订单 ${p.orderNo}`,
  async validate(deps, p) {
    checkShape(p);
    await new TransferExceptionService(deps).validateCredit(p);
  },
  async execute(deps, p, ctx) {
    checkShape(p);
    const done = await new TransferExceptionService(deps).executeCredit(p, { proposalId: ctx.proposalId, decidedBy: await usernameOf(deps, ctx.approverId) });
    return { 订单: done.orderNo, 结果: done.outcome === 'paid' ? '已入账，订单已支付' : '此前已入账（未重复入账）' };
  },
};
