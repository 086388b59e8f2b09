import { randomBytes, randomInt } from 'node:crypto';

/** Time is injected so expiry windows, timestamps and deadlines are testable. */
export interface Clock {
  nowMs(): number;
}
export const systemClock: Clock = { nowMs: () => Date.now() };

/** Randomness is injected too: codes and nonces must be cryptographic in production and repeatable in tests when needed. */
export interface Random {
  bytes(n: number): Buffer;
  int(maxExclusive: number): number;
}
export const cryptoRandom: Random = { bytes: (n) => randomBytes(n), int: (max) => randomInt(max) };

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomToken(random: Random, length: number, alphabet = ALNUM): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[random.int(alphabet.length)];
  return out;
}

export const nowSeconds = (clock: Clock) => Math.floor(clock.nowMs() / 1000);
