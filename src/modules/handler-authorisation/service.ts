import { type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { enqueueOwedNotice, NoticeOutbox } from '../notices/outbox';
import { type ReviewNotice, reviewResultNotice } from './review-notices';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors';
import { ID_NUMBER_PURPOSE } from '../../lib/pii';
import { checkIdNumber } from '../../lib/pii/id-number';
import { type Certificate } from '../certificates/entities';
import { type VerifiedHandler } from '../handlers/entities';
import { addYears, RETENTION_YEARS } from '../handlers/service';
import { normaliseText } from '../transfers/normalise';
import { type AuthorisationMethod, type HandlerAuthorisation } from './entities';
import { HandlerAuthorisationRepository, type NewAuthorisation } from './repository';
import { BRAND } from '../../config/brand';

export type HandlerRefusal = 'handler-not-registered' | 'handler-pending' | 'handler-rejected';

export const MESSAGES = {
  notRegistered: '您不是该证书登记的经办人，请由登记经办人办理，或联系客服变更经办人',
  pending: `经办人待审核：该单位已有登记的经办人，您的经办人申请已提交客服审核，审核通过后即可续期。如需加急请致电客服 ${BRAND.hotline}`,
  rejected: (reason: string | null) => `经办人审核未通过${reason ? `（${reason}）` : ''}，无法代表该单位办理续期。如有疑问请联系客服 ${BRAND.hotline}`,
  /** Shown beside a certificate that can be ticked, but whose order will go to review first. */
  needsReview: '该单位已有登记的经办人，提交后需客服审核您的经办人身份',
};

/** The verified person may not act for the certificate's organisation (now); `reason` tells the cases apart. */
export class HandlerNotAuthorisedError extends ForbiddenError {
  constructor(readonly reason: HandlerRefusal, readonly certificateId: number, userMessage: string, detail: string) {
    super(userMessage, detail);
  }
}

/**
 * The organisation a certificate speaks for: its 统一社会信用代码 when the subject carries one (the same unit under
 * a renamed or differently written name stays one unit), else its name normalised as bank names are (full/half
 * width, brackets, spaces), else the certificate itself (a personal certificate has no organisation).
 */
export function orgKeyOf(cert: Pick<Certificate, 'creditCode' | 'organization' | 'fingerprintSha256'>): string {
  const code = cert.creditCode ? normaliseText(cert.creditCode) : '';
  if (code) return `cc:${code}`;
  const name = cert.organization ? normaliseText(cert.organization) : '';
  if (name) return `org:${name}`.slice(0, 255);
  return `cert:${cert.fingerprintSha256}`;
}

/** At least 5 years after the certificate expires (Electronic Signature Law art. 24), and never before `at` + 5 years. */
export function retentionFor(certs: Array<Pick<Certificate, 'notAfter'>>, at: Date): Date {
  const latest = Math.max(at.getTime(), ...certs.map((c) => c.notAfter.getTime()));
  return addYears(new Date(latest), RETENTION_YEARS);
}

/** What the 续期缴费 page shows before the handler submits: ok, or ok after review (a request will be made), or refused. */
export type AuthorisationPreview = { kind: 'ok' } | { kind: 'needs-review'; message: string } | { kind: 'refused'; error: HandlerNotAuthorisedError };
export type DecisionOutcome = { changed: boolean; row: HandlerAuthorisation };

/**
 * 经办人授权: liveness proves who the person is, not that they may act for the organisation. A certificate whose
 * registered handler the CA knows may be renewed by that person only; otherwise the first verified handler of an
 * organisation is recorded (APPROVED, method 'first') and every later one waits for an operator (PENDING).
 */
export class HandlerAuthorisationService {
  readonly repo = new HandlerAuthorisationRepository();

  constructor(private readonly deps: Pick<Deps, 'db' | 'pii' | 'jobs'>) {}

  /** Read-only: what authorise would decide now (for display; authorise still decides). */
  async preview(em: EntityManager, handler: VerifiedHandler, cert: Certificate): Promise<AuthorisationPreview> {
    if (cert.registeredHandlerIndex) return cert.registeredHandlerIndex === handler.idNumberIndex ? { kind: 'ok' } : { kind: 'refused', error: notRegistered(cert, handler) };
    const key = orgKeyOf(cert);
    const mine = await this.repo.findPerson(em, key, handler.sandbox, handler.idNumberIndex);
    if (mine) {
      const refused = refusalOf(mine, cert);
      return refused ? { kind: 'refused', error: refused } : { kind: 'ok' };
    }
    return (await this.repo.hasApproved(em, key, handler.sandbox)) ? { kind: 'needs-review', message: MESSAGES.needsReview } : { kind: 'ok' };
  }

  /**
   * Decides for every certificate of an order, in its own transaction, and throws the first refusal only after
   * the commit: a refused handler's PENDING request must stay even though no order is made. Two concurrent
   * "first handler" claims (or two taps of one person) meet at a unique key; the loser runs again and then
   * sees the winner's row.
   */
  async authorise(handler: VerifiedHandler, certs: Certificate[], at: Date): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let refusals: HandlerNotAuthorisedError[];
      try {
        refusals = await inTransaction(this.deps.db, async (em) => {
          const out: HandlerNotAuthorisedError[] = [];
          for (const cert of certs) {
            const refused = await this.decideOne(em, handler, cert, at);
            if (refused) out.push(refused);
          }
          return out;
        });
      } catch (err) {
        if (attempt < 3 && isUniqueViolation(err)) continue;
        throw err;
      }
      if (refusals.length) throw refusals[0];
      return;
    }
  }

  private async decideOne(em: EntityManager, handler: VerifiedHandler, cert: Certificate, at: Date): Promise<HandlerNotAuthorisedError | null> {
    const key = orgKeyOf(cert);
    const mine = await this.repo.findPerson(em, key, handler.sandbox, handler.idNumberIndex);
    if (cert.registeredHandlerIndex) {
      if (cert.registeredHandlerIndex !== handler.idNumberIndex) return notRegistered(cert, handler);
      // The CA's records name this person: recorded for the organisation too, so nobody else becomes its "first"
      // handler through another of its certificates. An earlier row of theirs (even a rejection) is left as decided.
      if (!mine) await this.repo.insert(em, this.newRow(key, handler, cert, 'registered', at), at);
      return null;
    }
    if (mine) return refusalOf(mine, cert);
    const first = !(await this.repo.hasApproved(em, key, handler.sandbox));
    await this.repo.insert(em, this.newRow(key, handler, cert, first ? 'first' : 'review', at), at);
    return first ? null : new HandlerNotAuthorisedError('handler-pending', cert.id, MESSAGES.pending, `handler ${handler.id} asked to act for ${key}; queued for review`);
  }

  private newRow(orgKey: string, handler: VerifiedHandler, cert: Certificate, method: AuthorisationMethod, at: Date): NewAuthorisation {
    const decided = method !== 'review';
    return {
      orgKey, organization: cert.organization, creditCode: cert.creditCode, idNumberIndex: handler.idNumberIndex, nameMasked: handler.nameMasked,
      idNumberMasked: handler.idNumberMasked, openid: handler.openid, certificateId: cert.id, state: decided ? 'APPROVED' : 'PENDING', method,
      firstSlot: method === 'first' ? 1 : null, requestedAt: at, decidedAt: decided ? at : null, decidedBy: decided ? `system:${method}-handler` : null,
      reason: method === 'first' ? '单位首位经办人' : method === 'registered' ? '证书登记的经办人' : null, purgeAfter: retentionFor([cert], at), sandbox: handler.sandbox,
    };
  }

  /**
   * The person acted for these certificates (an order): their records are kept until 5 years after the last
   * of them expires. Runs in the caller's transaction, so it commits with the order.
   */
  extendRetention(em: EntityManager, handler: VerifiedHandler, certs: Certificate[], at: Date): Promise<void> {
    return this.repo.extendRetention(em, {
      handlerId: handler.id, attemptId: handler.method === 'liveness' ? handler.attemptId : null,
      submissionId: handler.method === 'documents' ? handler.attemptId : null, idNumberIndex: handler.idNumberIndex,
      orgKeys: [...new Set(certs.map(orgKeyOf))], sandbox: handler.sandbox,
    }, retentionFor(certs, at));
  }

  /** The operator queue, oldest first. */
  pending(limit = 200): Promise<HandlerAuthorisation[]> {
    return this.repo.listByState(this.deps.db.manager, 'PENDING', limit);
  }

  /** Idempotent: approving an approved row changes nothing. A rejected person may be approved later (a second look). */
  approve(id: number, decidedBy: string, at: Date): Promise<DecisionOutcome> {
    return this.decide(id, 'APPROVED', ['PENDING', 'REJECTED'], decidedBy, null, at);
  }

  /** Idempotent like approve; an APPROVED handler may be rejected too (the unit says they left), which frees the 'first' slot. */
  reject(id: number, decidedBy: string, reason: string, at: Date): Promise<DecisionOutcome> {
    const why = reason.trim();
    if (!why) throw new ValidationError('请填写驳回原因', 'reject without a reason');
    return this.decide(id, 'REJECTED', ['PENDING', 'APPROVED'], decidedBy, why.slice(0, 200), at);
  }

  private async decide(id: number, to: 'APPROVED' | 'REJECTED', from: Array<'PENDING' | 'APPROVED' | 'REJECTED'>, decidedBy: string, reason: string | null, at: Date): Promise<DecisionOutcome> {
    const outcome = await inTransaction(this.deps.db, async (em) => {
      const row = await this.repo.findById(em, id);
      if (!row) throw new NotFoundError('未找到该经办人申请', `handler authorisation ${id} not found`);
      if (row.state === to) return { changed: false, row };
      if (!from.includes(row.state)) throw new ConflictError('该申请的状态不允许此操作', `authorisation ${id} is ${row.state}, cannot become ${to}`);
      const changed = await this.repo.decide(em, id, from, { state: to, decidedBy: decidedBy.slice(0, 64), reason }, at);
      // 审核结果通知 is owed from this commit on (sent after it; the outbox keeps it through a crash in between).
      if (changed) await NoticeOutbox.record(em, reviewResultNotice(noticeOf(row.openid, id, to, reason, at)), at);
      return { changed, row: (await this.repo.findById(em, id))! };
    });
    if (outcome.changed) await enqueueOwedNotice(this.deps, reviewResultNotice(noticeOf(outcome.row.openid, id, to, reason, at)));
    return outcome;
  }

  /**
   * Records the handler the CA's own records register for a certificate (by ID number, indexed through the PII
   * vault; the number itself is not stored here). Null clears it. False when the certificate is unknown.
   */
  async registerHandler(certificateId: number, idNumber: string | null, at: Date): Promise<boolean> {
    let index: string | null = null;
    if (idNumber !== null) {
      const check = checkIdNumber(idNumber, at.getTime());
      if (!check.ok) throw new ValidationError(check.userMessage, `registered handler for ${certificateId}: ${check.problem}`);
      index = this.deps.pii.index(check.value, ID_NUMBER_PURPOSE);
    }
    return inTransaction(this.deps.db, (em) => this.repo.setRegisteredHandler(em, certificateId, index, at));
  }

  purgeExpired(now: Date): Promise<number> {
    return inTransaction(this.deps.db, (em) => this.repo.purgeExpired(em, now));
  }
}

const noticeOf = (openid: string, id: number, to: 'APPROVED' | 'REJECTED', reason: string | null, at: Date): ReviewNotice =>
  ({ openid, subject: 'authorisation', approved: to === 'APPROVED', reason, decidedAt: at, key: `auth-${id}-${to}-${at.getTime()}` });

function refusalOf(row: HandlerAuthorisation, cert: Certificate): HandlerNotAuthorisedError | null {
  if (row.state === 'APPROVED') return null;
  if (row.state === 'PENDING') return new HandlerNotAuthorisedError('handler-pending', cert.id, MESSAGES.pending, `authorisation ${row.id} for ${row.orgKey} is pending`);
  return new HandlerNotAuthorisedError('handler-rejected', cert.id, MESSAGES.rejected(row.reason), `authorisation ${row.id} for ${row.orgKey} was rejected`);
}

function notRegistered(cert: Certificate, handler: VerifiedHandler): HandlerNotAuthorisedError {
  return new HandlerNotAuthorisedError('handler-not-registered', cert.id, MESSAGES.notRegistered, `handler ${handler.id} is not the registered handler of certificate ${cert.id}`);
}
