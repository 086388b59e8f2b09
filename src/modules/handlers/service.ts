import { type Deps } from '../../deps';
import { randomToken } from '../../lib/clock';
import { inTransaction } from '../../lib/db/transaction';
import { incrForChinaDay } from '../../lib/store/china-day';
import { NotFoundError, TooManyRequestsError, UpstreamError } from '../../lib/errors';
import { ID_NUMBER_PURPOSE } from '../../lib/pii';
import { maskIdNumber, maskName } from '../../lib/pii/id-number';
import { type HandlerAttempt, type VerifiedHandler } from './entities';
import { HandlerRepository } from './repository';

export const NAME_PURPOSE = 'handler-name';
/** Checks one openid may start per China day: enough for a few honest failures, too few to probe a stranger's ID. */
export const DAILY_ATTEMPT_LIMIT = 5;
/** Electronic Signature Law art. 24: kept 5 years (after the certificate expires; see VerifiedHandler.purgeAfter). */
export const RETENTION_YEARS = 5;
/** A check that never passed is kept only while it may matter (disputes, abuse): 180 days. */
const UNVERIFIED_RETENTION_MS = 180 * 86_400_000;

export type FinishOutcome =
  | { kind: 'passed'; handler: VerifiedHandler }
  | { kind: 'pending'; message: string }
  | { kind: 'failed'; message: string };

const FAILED_MESSAGES: Record<string, string> = {
  NOT_PASSED: '活体检测未通过，请在光线充足处正对镜头重试',
  MISMATCH: '核验结果与填写的姓名或身份证号码不一致，请核对后重试',
  WRONG_REFERENCE: '核验记录不匹配，请重新发起认证',
  START_FAILED: '认证服务暂时不可用，请稍后重试',
};

export function addYears(at: Date, years: number): Date {
  const d = new Date(at.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

/**
 * 经办人活体鉴别认证: start a check with the provider, turn the provider's own (server-side) verdict into a
 * verified handler, and purge what the retention period no longer covers. The callback's query string is
 * used only to find our attempt; nothing in it is believed.
 */
export class HandlerService {
  readonly repo = new HandlerRepository();

  constructor(private readonly deps: Pick<Deps, 'db' | 'clock' | 'random' | 'store' | 'pii' | 'liveness' | 'config'>) {}

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }

  verifiedOf(openid: string): Promise<VerifiedHandler | null> {
    return this.repo.verifiedOf(this.deps.db.manager, openid);
  }

  /**
   * Counts the attempt against today's limit (atomically, in the shared store, so parallel posts cannot pass
   * it), records it with consent time and sealed personal data, then asks the provider for a check page.
   */
  async start(input: { openid: string; name: string; idNumber: string; consentedAt: Date }): Promise<{ url: string; attempt: HandlerAttempt }> {
    const { pii, store, config } = this.deps;
    const count = await incrForChinaDay(store, (day) => `handler-liveness:day:${day}:${input.openid}`, this.deps.clock.nowMs());
    if (count > DAILY_ATTEMPT_LIMIT) {
      throw new TooManyRequestsError(`今日认证次数已达上限（${DAILY_ATTEMPT_LIMIT} 次），请明天再试，或改为上传证件人工审核（无需人脸识别）`, `handler liveness daily limit for ${input.openid.slice(-6)}`);
    }
    const at = this.now();
    const attempt = await inTransaction(this.deps.db, (em) => this.repo.insertAttempt(em, {
      reference: randomToken(this.deps.random, 32), openid: input.openid,
      nameSealed: pii.encrypt(input.name, NAME_PURPOSE), nameMasked: maskName(input.name),
      idNumberSealed: pii.encrypt(input.idNumber, ID_NUMBER_PURPOSE), idNumberIndex: pii.index(input.idNumber, ID_NUMBER_PURPOSE),
      idNumberMasked: maskIdNumber(input.idNumber), bizToken: null, state: 'STARTED', refusal: null, consentedAt: input.consentedAt,
      createdAt: at, finishedAt: null, purgeAfter: new Date(at.getTime() + UNVERIFIED_RETENTION_MS), sandbox: this.deps.liveness.mode === 'sandbox',
    }));
    let session;
    try {
      session = await this.deps.liveness.start({
        name: input.name, idNumber: input.idNumber, reference: attempt.reference,
        redirectUrl: `${config.publicBaseUrl}/h5/handler/callback?ref=${attempt.reference}`,
      });
    } catch (err) {
      await inTransaction(this.deps.db, (em) => this.repo.finishAttempt(em, attempt.id, { state: 'FAILED', refusal: 'START_FAILED', finishedAt: this.now(), purgeAfter: attempt.purgeAfter }));
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError(FAILED_MESSAGES.START_FAILED!, `liveness start failed for attempt ${attempt.id}: ${(err as Error).message}`, undefined, { cause: err });
    }
    await inTransaction(this.deps.db, (em) => this.repo.setBizToken(em, attempt.id, session.bizToken));
    return { url: session.url, attempt: { ...attempt, bizToken: session.bizToken } };
  }

  /**
   * After the redirect back: finds the attempt by our reference (it must be this openid's), asks the provider
   * for the verdict and records it. Idempotent: a reload after a verdict shows the same verdict.
   */
  async finish(openid: string, reference: string): Promise<FinishOutcome> {
    const { db, pii, liveness } = this.deps;
    const attempt = reference ? await this.repo.attemptByReference(db.manager, reference) : null;
    // Another openid's reference looks exactly like an unknown one: nothing about it is revealed.
    if (!attempt || attempt.openid !== openid) throw new NotFoundError('未找到该认证记录，请重新发起认证', `handler attempt ${reference.slice(0, 8)}… not found for this openid`);
    if (attempt.state === 'PASSED') {
      const handler = await this.repo.verifiedOf(db.manager, openid);
      if (handler) return { kind: 'passed', handler };
      return { kind: 'failed', message: '认证记录已失效，请重新认证' };
    }
    if (attempt.state === 'FAILED' || !attempt.bizToken) return { kind: 'failed', message: FAILED_MESSAGES[attempt.refusal ?? 'START_FAILED'] ?? FAILED_MESSAGES.NOT_PASSED! };

    const access = { actor: 'system:handler-liveness', reason: 'liveness-verify', subject: `handler_attempt:${attempt.id}` };
    const expected = {
      name: pii.decrypt(attempt.nameSealed, NAME_PURPOSE, access),
      idNumber: pii.decrypt(attempt.idNumberSealed, ID_NUMBER_PURPOSE, access),
      reference: attempt.reference,
    };
    const verdict = await liveness.verify(attempt.bizToken, expected);
    const at = this.now();
    if (verdict.passed) {
      const handler = await inTransaction(db, async (em) => {
        const moved = await this.repo.finishAttempt(em, attempt.id, { state: 'PASSED', refusal: null, finishedAt: at, purgeAfter: addYears(at, RETENTION_YEARS) });
        if (!moved) return this.repo.verifiedOf(em, openid);
        return this.repo.upsertVerified(em, {
          openid, nameSealed: attempt.nameSealed, nameMasked: attempt.nameMasked, idNumberSealed: attempt.idNumberSealed,
          idNumberIndex: attempt.idNumberIndex, idNumberMasked: attempt.idNumberMasked, method: 'liveness', attemptId: attempt.id,
          verifiedAt: at, purgeAfter: addYears(at, RETENTION_YEARS), sandbox: attempt.sandbox,
        }, at);
      });
      if (handler) return { kind: 'passed', handler };
      return { kind: 'failed', message: '认证记录已失效，请重新认证' };
    }
    if (verdict.refusal === 'PENDING') return { kind: 'pending', message: verdict.userMessage };
    if (verdict.refusal === 'ALREADY_USED') {
      // A concurrent callback (a double tap) used the token: its verdict is the one to show, once committed.
      const again = await this.repo.attemptByReference(db.manager, reference);
      if (again?.state === 'PASSED') {
        const handler = await this.repo.verifiedOf(db.manager, openid);
        if (handler) return { kind: 'passed', handler };
      }
      if (again?.state === 'FAILED') return { kind: 'failed', message: FAILED_MESSAGES[again.refusal ?? 'NOT_PASSED'] ?? verdict.userMessage };
      return { kind: 'pending', message: '认证结果处理中，请稍后刷新' };
    }
    await inTransaction(db, (em) => this.repo.finishAttempt(em, attempt.id, { state: 'FAILED', refusal: verdict.refusal, finishedAt: at, purgeAfter: attempt.purgeAfter }));
    return { kind: 'failed', message: FAILED_MESSAGES[verdict.refusal] ?? verdict.userMessage };
  }

  /** Deletes attempts and verified handlers whose retention has ended (a daily job calls this). */
  purgeExpired(now: Date): Promise<{ attempts: number; handlers: number }> {
    return inTransaction(this.deps.db, (em) => this.repo.purgeExpired(em, now));
  }
}
