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
});
