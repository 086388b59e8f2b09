import { userInfo } from 'node:os';
import { formatDateTime } from '../modules/certificates/view-model';
import { beijingDay, WechatPayBillService } from '../modules/wechatpay-bills/service';
import { type BillFinding } from '../modules/wechatpay-bills/entities';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';

const USAGE = 'Usage: npm run wechatpay:bill [-- --date yyyy-MM-dd | --open | --resolve <finding id> [--by <name>]]';
const yuan = (fen: number | null) => (fen === null ? '—' : `${(fen / 100).toFixed(2)} 元`);
const WHAT_TO_DO: Record<string, string> = {
  'missing-here': 'WeChat Pay took money we could not credit: find the order (商户订单号) and credit or refund it by hand on the merchant platform',
  'missing-there': 'we credited a payment the bill does not list: query it on the merchant platform (交易中心 → 交易订单) before anything else',
  'amount-mismatch': 'the amounts differ: compare the order with the merchant platform',
  'refund-missing-here': 'a refund we could not record: check it on the merchant platform (退款管理)',
  'refund-missing-there': 'a refund we recorded as accepted is not in the bill: query it on the merchant platform',
  'refund-amount-mismatch': 'the refund amounts differ: compare with the merchant platform',
};

function printFinding(io: CliIo, f: BillFinding): void {
  io.out(`#${f.id}  ${f.billDate}  ${f.kind}  ${f.outcome}${f.resolvedAt ? ` (handled by ${f.resolvedBy} ${formatDateTime(f.resolvedAt)})` : ''}`);
  io.out(`    商户订单号 ${f.outTradeNo}${f.outRefundNo ? `  商户退款单号 ${f.outRefundNo}` : ''}${f.transactionId ? `  微信订单号 ${f.transactionId}` : ''}`);
  io.out(`    ours ${yuan(f.oursFen)}  bill ${yuan(f.theirsFen)}  ${f.detail}`);
  if (f.outcome === 'open' && !f.resolvedAt) io.out(`    to do: ${WHAT_TO_DO[f.kind]}, then --resolve ${f.id}`);
}

/**
 * `npm run wechatpay:bill`: the WeChat Pay trade bill check (对账). Without arguments it lists the recent days and
 * the findings a person must handle; `--date` checks one past day now (the daily job does this after 10:00);
 * `--resolve` records that an operator handled a finding.
 */
export async function wechatpayBill(io: CliIo, argv: string[]): Promise<void> {
  const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] ?? '' : undefined);
  const date = arg('--date');
  const resolve = arg('--resolve');
  if (date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new CliError(USAGE);
  if (resolve !== undefined && !/^\d+$/.test(resolve)) throw new CliError(USAGE);
  const by = arg('--by') || io.env.USER || userInfo().username;
  await withDeps(io, { wechat: date !== undefined }, async (deps) => {
    const bills = new WechatPayBillService(deps);
    if (resolve) {
      if (!(await bills.resolve(Number(resolve), by))) throw new CliError(`No open finding #${resolve}.`);
      io.out(`Finding #${resolve} marked as handled by ${by}.`);
      return;
    }
    if (date) {
      if (date >= beijingDay(deps.clock.nowMs())) throw new CliError(`${date} has no bill yet: WeChat Pay makes a day's bill the next morning (after 09:00 Beijing time).`);
      const { run, findings } = await bills.check(date);
      io.out(`${date}: ${run.state}, ${run.billRows} bill row(s), payments ${yuan(run.billPaymentFen)}, refunds ${yuan(run.billRefundFen)}, ${run.findings} open finding(s).`);
      for (const f of findings) printFinding(io, f);
      return;
    }
    for (const run of await bills.recentRuns()) {
      io.out(`${run.billDate}  ${run.state}  rows ${run.billRows}  open ${run.findings}  tries ${run.attempts}${run.lastError ? `  error: ${run.lastError}` : ''}`);
    }
    const open = await bills.findings({ openOnly: true });
    io.out(open.length ? `${open.length} finding(s) need a person:` : 'No finding needs a person.');
    for (const f of open) printFinding(io, f);
  });
}

if (require.main === module) runCli(wechatpayBill);
