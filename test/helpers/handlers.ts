import { createHash } from 'node:crypto';
import { type Deps } from '../../src/deps';
import { inTransaction } from '../../src/lib/db/transaction';
import { ID_NUMBER_PURPOSE } from '../../src/lib/pii';
import { idNumberCheckChar, maskIdNumber, maskName } from '../../src/lib/pii/id-number';
import { type VerifiedHandler } from '../../src/modules/handlers/entities';
import { HandlerRepository } from '../../src/modules/handlers/repository';
import { addYears, NAME_PURPOSE, RETENTION_YEARS } from '../../src/modules/handlers/service';

/** A valid 18-digit ID number (GB 11643 check character) of a made-up person, stable for a seed. */
export function idNumberFor(seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  const serial = String(digest.readUInt32BE(0) % 1000).padStart(3, '0');
  const day = String((digest[4]! % 28) + 1).padStart(2, '0');
  const first17 = `44140219${70 + (digest[5]! % 30)}01${day}${serial}`;
  return first17 + idNumberCheckChar(first17);
}

/**
 * The verified handler of `openid`, as a passed liveness check leaves it (a PASSED attempt and the verified row,
 * sealed and indexed through the app's own PII vault). By default each openid is its own person; pass the same
 * `idNumber` for one person with several WeChat accounts. Returns the existing row when the openid has one.
 */
export async function verifyHandler(deps: Deps, openid: string, opts: { idNumber?: string; name?: string; sandbox?: boolean; at?: Date } = {}): Promise<VerifiedHandler> {
  const repo = new HandlerRepository();
  const existing = await repo.verifiedOf(deps.db.manager, openid);
  if (existing) return existing;
  const { pii } = deps;
  const idNumber = opts.idNumber ?? idNumberFor(openid);
  const name = opts.name ?? '测试经办人';
  const at = opts.at ?? new Date(deps.clock.nowMs());
  const person = {
    nameSealed: pii.encrypt(name, NAME_PURPOSE), nameMasked: maskName(name), idNumberSealed: pii.encrypt(idNumber, ID_NUMBER_PURPOSE),
    idNumberIndex: pii.index(idNumber, ID_NUMBER_PURPOSE), idNumberMasked: maskIdNumber(idNumber),
  };
  const sandbox = opts.sandbox ?? false;
  return inTransaction(deps.db, async (em) => {
    const attempt = await repo.insertAttempt(em, {
      reference: `test-${createHash('sha256').update(`${openid}:${at.getTime()}`).digest('hex').slice(0, 32)}`, openid, ...person, bizToken: null, state: 'PASSED',
      refusal: null, consentedAt: at, createdAt: at, finishedAt: at, purgeAfter: addYears(at, RETENTION_YEARS), sandbox,
    });
    return repo.upsertVerified(em, { openid, ...person, method: 'liveness', attemptId: attempt.id, verifiedAt: at, purgeAfter: addYears(at, RETENTION_YEARS), sandbox }, at);
  });
}
