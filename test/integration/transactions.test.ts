import { LegacyBindingEntity } from '../../src/modules/legacy-bindings/entities';
import { OrderService } from '../../src/modules/orders/service';
import { inTransaction, onWaitForConnection } from '../../src/lib/db/transaction';
import { backend } from '../helpers/harness';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

const t = useTestApp({ startJobs: false });
const DAY = 86_400_000;

const row = (n: number) => ({ unionid: `uTx${n}`, keyKind: 'serial' as const, keyValue: `${n}`, importedAt: new Date(), origin: 'tx-test' });

/**
 * A transaction held open until the test lets it roll back; `opened` resolves once its first row is written.
 * `rollBackAfter` starts work beside it and rolls back once every piece of that work has either finished or queued
 * behind the open transaction (the serialised executor reports each wait): on a connection shared with the open
 * transaction the work finishes at once (and is then undone with it); serialised, it waits for the rollback.
 */
function transactionThatRollsBack(n: number) {
  let rollBack!: () => void;
  const gate = new Promise<void>((resolve) => (rollBack = resolve));
  let opened!: () => void;
  const written = new Promise<void>((resolve) => (opened = resolve));
  const { db } = t.instance.deps;
  const done = inTransaction(db, async (em) => {
    await em.insert(LegacyBindingEntity, row(n));
    opened();
    await gate;
    throw new Error(`rollback ${n}`);
  });
  return { written, done, rollBackAfter: async <T>(...starts: (() => Promise<T>)[]): Promise<Promise<T>[]> => {
    let settledOrQueued = 0;
    let allThere!: () => void;
    const there = new Promise<void>((resolve) => (allThere = resolve));
    const count = () => { if (++settledOrQueued === starts.length) allThere(); };
    const unsubscribe = onWaitForConnection(db, count);
    const works = starts.map((start) => start());
    works.forEach((w) => w.then(count, count));
    await there;
    unsubscribe();
    rollBack();
    return works;
  } };
}

describe(`transactions (${backend})`, () => {
  it('When twenty transactions run at once and some roll back, then exactly the committed ones are kept', async () => {
    const { db } = t.instance.deps;
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => inTransaction(db, async (em) => {
      await em.insert(LegacyBindingEntity, row(n));
      // Yield between statements so the transactions really overlap.
      await new Promise((r) => setTimeout(r, 2));
      await em.insert(LegacyBindingEntity, row(n + 100));
      if (n % 4 === 0) throw new Error(`rollback ${n}`);
      return n;
    })));
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason.message)))
      .toEqual(['rollback 0', 'rollback 4', 'rollback 8', 'rollback 12', 'rollback 16']);
    const kept = await db.getRepository(LegacyBindingEntity).find({ where: { origin: 'tx-test' } });
    expect(kept).toHaveLength(30);
    expect(kept.some((r) => r.unionid === 'uTx4' || r.unionid === 'uTx104')).toBe(false);
  });

  it('When a payment is credited while another caller\'s transaction is open and then rolls back, then the credit persists', async () => {
    const { deps } = t.instance;
    const orders = new OrderService(deps);
    const now = Date.now();
    const cert = await boundCertificate(deps, 'oTxCredit', { organization: '梅州事务测试单位', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
    await verifyHandler(deps, 'oTxCredit');
    const order = await orders.createOrder({ openid: 'oTxCredit', items: [{ certificateId: cert.id, years: 1 }], at: new Date() });

    const other = transactionThatRollsBack(300);
    await other.written;
    const [credit] = await other.rollBackAfter(() => orders.markPaid(order.orderNo, { method: 'wechatpay', amountFen: order.totalFen, transactionId: 'TX-CREDIT-1', paidAt: new Date() }));
    await expect(other.done).rejects.toThrow('rollback 300');
    expect((await credit).outcome).toBe('paid');
    expect((await orders.getOrder(order.orderNo))!).toMatchObject({ state: 'PAID', transactionId: 'TX-CREDIT-1' });
  });

  it('When a plain write and a read run while another caller\'s transaction is open, then the write survives its rollback and the read never sees its row', async () => {
    const repo = t.instance.deps.db.getRepository(LegacyBindingEntity);
    const other = transactionThatRollsBack(400);
    await other.written;
    const [read, write] = await other.rollBackAfter<unknown>(() => repo.findOne({ where: { unionid: 'uTx400' } }), () => repo.insert(row(401)));
    await expect(other.done).rejects.toThrow('rollback 400');
    expect(await read).toBeNull();
    await write;
    expect(await repo.findOne({ where: { unionid: 'uTx401' } })).not.toBeNull();
    expect(await repo.findOne({ where: { unionid: 'uTx400' } })).toBeNull();
  });
});
