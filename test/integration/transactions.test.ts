import { LegacyBindingEntity } from '../../src/modules/legacy-bindings/entities';
import { inTransaction } from '../../src/lib/db/transaction';
import { backend } from '../helpers/harness';
import { useTestApp } from '../helpers/use-test-app';

const t = useTestApp({ startJobs: false });

const row = (n: number) => ({ unionid: `uTx${n}`, keyKind: 'serial' as const, keyValue: `${n}`, importedAt: new Date(), origin: 'tx-test' });

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
});
