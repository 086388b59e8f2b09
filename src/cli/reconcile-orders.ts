import { PaymentService } from '../modules/payments/service';
import { type CliIo, runCli, withDeps } from './bootstrap';

/** `npm run orders:reconcile`: the minute sweep by hand — settle every expired order with WeChat Pay, then close it. */
export async function reconcileOrders(io: CliIo): Promise<void> {
  await withDeps(io, { wechat: false }, async (deps) => {
    const { closed, credited, failed } = await new PaymentService(deps).closeExpired(new Date(deps.clock.nowMs()));
    io.out(`Closed ${closed.length} expired order(s)${closed.length ? `: ${closed.join(', ')}` : ''}; credited ${credited.length} paid meanwhile${credited.length ? `: ${credited.join(', ')}` : ''}.`);
    if (failed.length) io.out(`Could not settle ${failed.length} order(s) now (see the log; run again later): ${failed.join(', ')}`);
  });
}

if (require.main === module) runCli(reconcileOrders);
