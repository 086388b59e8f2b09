import { GroupCommit } from '../../../src/lib/db/group-commit';

/** A flush whose commits the test completes by hand, recording every batch it was given. */
function manualFlush() {
  const batches: number[][] = [];
  const commits: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const flush = (items: number[]) => {
    batches.push(items);
    return new Promise<void>((resolve, reject) => commits.push({ resolve, reject }));
  };
  return { batches, commits, flush };
}
const settle = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('When writes arrive while a batch is committing, then they go together in the next batch, in order', async () => {
    const m = manualFlush();
    const group = new GroupCommit<number>(m.flush);
    const done: number[] = [];
    const submit = (n: number) => group.submit(n).then(() => done.push(n));
    void submit(1);
    await settle();
    expect(m.batches).toEqual([[1]]);
    void submit(2);
    void submit(3);
    await settle();
    expect(m.batches).toHaveLength(1);
    m.commits[0].resolve();
    await settle();
    await settle();
    expect(done).toEqual([1]);
    expect(m.batches).toEqual([[1], [2, 3]]);
    m.commits[1].resolve();
    await settle();
    expect(done).toEqual([1, 2, 3]);
  });

  it('When a writer has not committed yet, then its caller is still waiting (nobody answers before the write is durable)', async () => {
    const m = manualFlush();
    const group = new GroupCommit<number>(m.flush);
    let resolved = false;
    void group.submit(7).then(() => (resolved = true));
    await settle();
    await settle();
    expect(resolved).toBe(false);
    m.commits[0].resolve();
    await settle();
    expect(resolved).toBe(true);
  });

  it('When a batch fails, then every caller in it gets the error and the next batch still runs', async () => {
    const m = manualFlush();
    const group = new GroupCommit<number>(m.flush);
    const first = group.submit(1);
    await settle();
    const second = group.submit(2);
    const third = group.submit(3);
    m.commits[0].reject(new Error('deadlock'));
    await expect(first).rejects.toThrow('deadlock');
    await settle();
    m.commits[1].reject(new Error('connection lost'));
    await expect(second).rejects.toThrow('connection lost');
    await expect(third).rejects.toThrow('connection lost');
    const fourth = group.submit(4);
    await settle();
    m.commits[2].resolve();
    await expect(fourth).resolves.toBeUndefined();
  });

  it('When more writes wait than a batch holds, then they are split into batches of at most maxBatch', async () => {
    const m = manualFlush();
    const group = new GroupCommit<number>(m.flush, { maxBatch: 2, maxInFlight: 1 });
    const all = [1, 2, 3, 4, 5].map((n) => group.submit(n));
    for (let i = 0; i < 3; i++) {
      await settle();
      m.commits[i].resolve();
      await settle();
    }
    await Promise.all(all);
    expect(m.batches).toEqual([[1, 2], [3, 4], [5]]);
  });
});
