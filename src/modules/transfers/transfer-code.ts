import { type Random } from '../../lib/clock';

/**
 * The 6-digit code a corporate transfer must carry as its only remark. Drawn at random (never sequential:
 * a guessable code would let anyone's transfer be credited to another order), unique among open orders —
 * `isTaken` asks the store, and the database's unique column is the final arbiter.
 */
export async function drawTransferCode(random: Random, isTaken: (code: string) => Promise<boolean>, attempts = 20): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const code = String(random.int(1_000_000)).padStart(6, '0');
    if (!(await isTaken(code))) return code;
  }
  // 20 collisions in a row means a million codes are nearly all open: a bug or an attack, not bad luck.
  throw new Error('no free transfer code after 20 draws');
}

/** The remark must be the code and nothing else (after width normalisation and trimming). */
export function remarkCode(remark: string): string | null {
  const t = remark.normalize('NFKC').trim();
  return /^\d{6}$/.test(t) ? t : null;
}
