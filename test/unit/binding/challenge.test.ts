import { cryptoRandom } from '../../../src/lib/clock';
import { MemoryStore } from '../../../src/lib/store/memory';
import { CHALLENGE_TTL_MS, ChallengeService } from '../../../src/modules/binding/challenge';

class MovableClock {
  constructor(private ms = Date.UTC(2025, 0, 15, 8)) {}
  nowMs() {
    return this.ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

function setUp() {
  const clock = new MovableClock();
  const store = new MemoryStore(clock);
  const challenges = new ChallengeService({ store, clock, random: cryptoRandom, publicBaseUrl: 'https://cam.example.cn' });
  return { clock, store, challenges };
}

describe('binding challenge', () => {
  let store: MemoryStore;
  afterEach(() => store?.close());

  it('When a challenge is issued, then the signed text names the purpose, the site and 32 random bytes', async () => {
    const t = setUp();
    store = t.store;
    const c = await t.challenges.issue('session-a');
    expect(Buffer.from(c.nonceBase64, 'base64')).toHaveLength(32);
    expect(c.text).toBe(`数安CA管家证书绑定\n站点: https://cam.example.cn\n挑战: ${c.nonceBase64}`);
    expect(Buffer.from(c.dataBase64, 'base64').toString('utf8')).toBe(c.text);
    expect(c.expiresAt.getTime() - t.clock.nowMs()).toBe(CHALLENGE_TTL_MS);
    const other = await t.challenges.issue('session-a');
    expect(other.nonceBase64).not.toBe(c.nonceBase64);
  });

  it('When the owning session presents a challenge, then it gets the signed bytes once and a second take is refused', async () => {
    const t = setUp();
    store = t.store;
    const c = await t.challenges.issue('session-a');
    expect((await t.challenges.take('session-a', c.nonceBase64)).toString('base64')).toBe(c.dataBase64);
    await expect(t.challenges.take('session-a', c.nonceBase64)).rejects.toMatchObject({ userMessage: '验证已过期，请重新获取绑定码', detail: 'challenge unknown, expired or already used' });
  });

  it('When two presentations of one challenge race, then exactly one succeeds', async () => {
    const t = setUp();
    store = t.store;
    const c = await t.challenges.issue('session-a');
    const results = await Promise.allSettled([t.challenges.take('session-a', c.nonceBase64), t.challenges.take('session-a', c.nonceBase64)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('When another session presents the challenge, then it is refused and the owner can still use it', async () => {
    const t = setUp();
    store = t.store;
    const c = await t.challenges.issue('session-a');
    await expect(t.challenges.take('session-b', c.nonceBase64)).rejects.toMatchObject({ status: 400, detail: 'challenge belongs to another session' });
    await expect(t.challenges.take('', c.nonceBase64)).rejects.toMatchObject({ status: 400 });
    await expect(t.challenges.take('session-a', c.nonceBase64)).resolves.toBeInstanceOf(Buffer);
  });

  it('When two minutes have passed, then the challenge is refused', async () => {
    const t = setUp();
    store = t.store;
    const c = await t.challenges.issue('session-a');
    t.clock.advance(CHALLENGE_TTL_MS - 1);
    const d = await t.challenges.issue('session-a');
    t.clock.advance(1);
    await expect(t.challenges.take('session-a', c.nonceBase64)).rejects.toMatchObject({ detail: 'challenge unknown, expired or already used' });
    await expect(t.challenges.take('session-a', d.nonceBase64)).resolves.toBeInstanceOf(Buffer);
  });

  it('When a made-up nonce is presented, then it is refused', async () => {
    const t = setUp();
    store = t.store;
    await expect(t.challenges.take('session-a', Buffer.alloc(32).toString('base64'))).rejects.toMatchObject({ status: 400 });
  });
});
