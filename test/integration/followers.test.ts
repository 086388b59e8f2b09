import { inTransaction } from '../../src/lib/db/transaction';
import { FollowerService } from '../../src/modules/followers/service';
import { backend, TestClock } from '../helpers/harness';
import { useTestApp } from '../helpers/use-test-app';

const clock = new TestClock(Date.UTC(2026, 10, 25, 8, 0, 0));

const t = useTestApp({ startJobs: false, clock });

describe(`followers (${backend})`, () => {
  it('When 100 new followers arrive at once, then every row is written without a deadlock surfacing', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    const openids = Array.from({ length: 100 }, (_, i) => `oBurst${String(i).padStart(3, '0')}`);
    await Promise.all(openids.map((openid) => followers.record(openid, { kind: 'subscribe', scene: 'burst' })));
    const rows = await t.instance.deps.db.query("SELECT COUNT(*) AS n FROM followers WHERE first_scene = 'burst'");
    expect(Number(rows[0].n)).toBe(100);
  });

  it('When one user follows, unfollows and scans within one batch, then the row ends as the last event says', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    // Submitted in one turn of the event loop: they share a batch and keep their order.
    await Promise.all([
      followers.record('oBatched', { kind: 'subscribe', scene: 'first' }),
      followers.record('oOther', { kind: 'subscribe', scene: 'x' }),
      followers.record('oBatched', { kind: 'unsubscribe' }),
      followers.record('oBatched', { kind: 'scan', scene: 'second' }),
      followers.record('oLeaving', { kind: 'unsubscribe' }),
    ]);
    expect(await followers.find('oBatched')).toMatchObject({ subscribed: true, firstScene: 'first', lastScene: 'second' });
    expect(await followers.find('oOther')).toMatchObject({ subscribed: true, firstScene: 'x' });
    expect(await followers.find('oLeaving')).toMatchObject({ subscribed: false });
  });

  it('When the same user follows, unfollows and follows again from another scene, then the first scene stays and times are UTC', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    await followers.record('oAgain', { kind: 'subscribe', scene: 'poster' });
    clock.advance(60_000);
    await followers.record('oAgain', { kind: 'unsubscribe' });
    expect(await followers.find('oAgain')).toMatchObject({ subscribed: false, firstScene: 'poster' });
    clock.advance(60_000);
    await followers.record('oAgain', { kind: 'subscribe', scene: 'counter' });
    const row = await followers.find('oAgain');
    expect(row).toMatchObject({ subscribed: true, firstScene: 'poster', lastScene: 'counter', unsubscribedAt: null });
    expect(row!.subscribedAt!.toISOString()).toBe('2026-11-25T08:02:00.000Z');
    expect(row!.createdAt.toISOString()).toBe('2026-11-25T08:00:00.000Z');
  });

  it('When a follow without a scene comes after one with a scene, then the last scene is not erased', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    await followers.record('oKeep', { kind: 'scan', scene: 'desk' });
    await followers.record('oKeep', { kind: 'subscribe', scene: null });
    expect(await followers.find('oKeep')).toMatchObject({ firstScene: 'desk', lastScene: 'desk' });
  });

  it('When 20 events for one user race, then there is still exactly one row', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    await Promise.all(Array.from({ length: 20 }, (_, i) => followers.record('oRace', i % 3 === 0 ? { kind: 'unsubscribe' } : { kind: 'subscribe', scene: `s${i}` })));
    const rows = await t.instance.deps.db.query("SELECT COUNT(*) AS n FROM followers WHERE openid = 'oRace'");
    expect(Number(rows[0].n)).toBe(1);
  });

  it('When a row was recorded in sandbox mode, then a real-mode reader does not see it', async () => {
    await new FollowerService(t.instance.deps.db, clock, true).record('oSandbox', { kind: 'subscribe', scene: null });
    expect(await new FollowerService(t.instance.deps.db, clock, true).find('oSandbox')).toMatchObject({ sandbox: true });
    expect(await new FollowerService(t.instance.deps.db, clock, false).find('oSandbox')).toBeNull();
  });

  it('When names hold characters outside the BMP, then they are stored intact (utf8mb4)', async () => {
    const followers = new FollowerService(t.instance.deps.db, clock, false);
    await followers.record('oRare', { kind: 'subscribe', scene: '𠀀𪚥会展' });
    expect(await followers.find('oRare')).toMatchObject({ firstScene: '𠀀𪚥会展' });
  });

  it('When a transaction records a follow and then rolls back, then a follow recorded beside it in the same batch persists', async () => {
    const { db } = t.instance.deps;
    const followers = new FollowerService(db, clock, false);
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    let rollBack!: () => void;
    const gate = new Promise<void>((resolve) => (rollBack = resolve));
    const rolledBack = inTransaction(db, async (em) => {
      await em.query('SELECT 1');
      // The transaction's own write comes first; another caller's follow joins in the same turn of the loop.
      const own = followers.record('oInsideTx', { kind: 'subscribe', scene: 'tx' });
      opened();
      await own;
      await gate;
      throw new Error('rollback');
    });
    await open;
    const outside = followers.record('oBesideTx', { kind: 'subscribe', scene: 'beside' });
    // On MySQL the follow commits on its own connection; on SQLite it waits for the connection.
    await Promise.race([outside, new Promise((r) => setImmediate(r))]);
    rollBack();
    await expect(rolledBack).rejects.toThrow('rollback');
    await outside;
    expect(await followers.find('oBesideTx')).toMatchObject({ subscribed: true, firstScene: 'beside' });
  });

  it('When a transaction awaits a follow while a batch is already committing, then both finish (no deadlock)', async () => {
    const { db } = t.instance.deps;
    const followers = new FollowerService(db, clock, false);
    // A batch in flight from outside, then a transaction that needs its own follow written before it can end.
    const first = followers.record('oBeforeTx', { kind: 'scan', scene: 'a' });
    const tx = inTransaction(db, async () => {
      await followers.record('oDuringTx', { kind: 'scan', scene: 'b' });
      return 'committed';
    });
    await expect(Promise.all([first, tx])).resolves.toEqual([undefined, 'committed']);
    expect(await followers.find('oDuringTx')).toMatchObject({ lastScene: 'b' });
  });
});
