import { userInfo } from 'node:os';
import { formatDateTime } from '../modules/certificates/view-model';
import { RefundService } from '../modules/refunds/service';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';

const yuan = (fen: number) => `${(fen / 100).toFixed(2)} 元`;
const WHAT_TO_DO: Record<string, string> = {
  ABNORMAL: 'the bank refused the way back (card closed or frozen): refund by hand on the merchant platform (交易中心 → 退款管理), then --resolve',
  CLOSED: 'WeChat Pay closed the refund: the money did not go back; refund again by hand, then --resolve',
  FAILED: 'WeChat Pay refused the request (see the error): fix and refund by hand, then --resolve',
  MANUAL: 'paid by bank transfer: send the money back by bank, then --resolve',
};

/**
 * `npm run refunds:exceptions [-- --resolve <out_refund_no> [--by <name>]]`: refunds a person must handle — ABNORMAL
 * (WeChat Pay could not return the money the original way), CLOSED, refused requests, and transfers to pay back by
 * bank. `--resolve` records that the operator handled one (it leaves the list; the record stays).
 */
export async function refundExceptions(io: CliIo, argv: string[]): Promise<void> {
  const at = argv.indexOf('--resolve');
  const outRefundNo = at >= 0 ? argv[at + 1] : undefined;
  if (at >= 0 && !outRefundNo) throw new CliError('Usage: npm run refunds:exceptions [-- --resolve <out_refund_no> [--by <name>]]');
  const byAt = argv.indexOf('--by');
  const by = (byAt >= 0 ? argv[byAt + 1] : undefined) ?? io.env.USER ?? userInfo().username;
  await withDeps(io, { wechat: false }, async (deps) => {
    const refunds = new RefundService(deps);
    if (outRefundNo) {
      if (!(await refunds.resolve(outRefundNo, by))) throw new CliError(`No open refund exception ${outRefundNo}.`);
      io.out(`Refund ${outRefundNo} marked as handled by ${by}.`);
      return;
    }
    const open = await refunds.exceptions();
    if (!open.length) {
      io.out('No refund needs a person.');
      return;
    }
    io.out(`${open.length} refund(s) need a person:`);
    for (const r of open) {
      io.out(`${r.outRefundNo}  ${r.state}  order ${r.orderNo}  ${yuan(r.amountFen)}  (${r.kind}; since ${formatDateTime(r.updatedAt)})`);
      io.out(`    reason: ${r.reason}${r.refundId ? `; WeChat Pay refund_id ${r.refundId}` : ''}${r.lastError ? `; error: ${r.lastError}` : ''}`);
      io.out(`    to do: ${WHAT_TO_DO[r.state] ?? 'look into it'}`);
    }
  });
}

if (require.main === module) runCli(refundExceptions);
