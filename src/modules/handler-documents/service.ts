import { type Deps } from '../../deps';
import { reviewResultNotice } from '../handler-authorisation/review-notices';
import { enqueueOwedNotice, NoticeOutbox } from '../notices/outbox';
import { inTransaction } from '../../lib/db/transaction';
import { incrForChinaDay } from '../../lib/store/china-day';
import { isUniqueViolation } from '../../lib/db/sql';
import { ConflictError, NotFoundError, TooManyRequestsError, ValidationError } from '../../lib/errors';
import { ID_NUMBER_PURPOSE } from '../../lib/pii';
import { maskIdNumber, maskName } from '../../lib/pii/id-number';
import { type VerifiedHandler } from '../handlers/entities';
import { HandlerRepository } from '../handlers/repository';
import { addYears, NAME_PURPOSE, RETENTION_YEARS } from '../handlers/service';
import { type DocumentContentType, type DocumentKind, type DocumentSubmission } from './entities';
import { HandlerDocumentRepository } from './repository';
import { type DocumentForm } from './schemas';
import { BRAND } from '../../config/brand';

/** Accepted submissions per openid per China day: a rejected person may correct and resend, a script may not flood the queue. */
export const SUBMISSIONS_PER_DAY = 3;
/** Upload posts per openid per day, valid or not: each one is parsed into memory (up to 15 MB), so they are bounded too. */
export const UPLOADS_PER_DAY = 20;
/** A rejected (or never reviewed) submission is kept 180 days, for questions and disputes, then deleted with its images. */
export const REJECTED_RETENTION_DAYS = 180;
const DAY_MS = 86_400_000;
const REVIEWER = /^[A-Za-z0-9._@-]{1,48}$/;

/** The AAD purpose of one image: bound to its submission and slot, so blobs swapped between rows do not open. */
export const documentPurpose = (submissionId: number, kind: DocumentKind) => `handler-document:${submissionId}:${kind}`;

export interface ShownSubmission {
  submission: DocumentSubmission;
  name: string;
  idNumber: string;
  files: { kind: DocumentKind; contentType: DocumentContentType; bytes: Buffer }[];
}

/**
 * The non-face alternative to handler liveness: the handler uploads ID card photos and the organisation's
 * authorisation letter; an operator looks at them and approves (→ a verified handler, method `documents`, the
 * same row the business pages' guard reads) or rejects with a reason the handler sees.
 */
export class HandlerDocumentService {
  readonly repo = new HandlerDocumentRepository();
  private readonly handlers = new HandlerRepository();
  /** Sandbox rows are invisible outside sandbox mode (nothing verified there counts in production). */
  readonly sandbox: boolean;

  constructor(private readonly deps: Pick<Deps, 'db' | 'clock' | 'store' | 'pii' | 'config' | 'jobs'>) {
    this.sandbox = deps.config.sandbox;
  }

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }

  latestOf(openid: string): Promise<DocumentSubmission | null> {
    return this.repo.latestOf(this.deps.db.manager, openid, { includeSandbox: this.sandbox });
  }

  /** Counts one upload post before its body is parsed; refuses past UPLOADS_PER_DAY. */
  async countUpload(openid: string): Promise<void> {
    if (await this.countToday('uploads', openid) > UPLOADS_PER_DAY) throw this.limitError(openid, 'uploads');
  }

  /**
   * Seals name, ID number and images and queues the submission for review. One PENDING submission per openid
   * (a unique key, so parallel posts cannot both pass); SUBMISSIONS_PER_DAY accepted ones per day.
   */
  async submit(input: { openid: string; form: DocumentForm; consentedAt: Date }): Promise<DocumentSubmission> {
    const { pii } = this.deps;
    const { openid, form } = input;
    if (await this.countToday('submissions', openid) > SUBMISSIONS_PER_DAY) throw this.limitError(openid, 'submissions');
    const at = this.now();
    try {
      return await inTransaction(this.deps.db, async (em) => {
        const row = await this.repo.insertSubmission(em, {
          openid, pendingKey: openid,
          nameSealed: pii.encrypt(form.name, NAME_PURPOSE), nameMasked: maskName(form.name),
          idNumberSealed: pii.encrypt(form.idNumber, ID_NUMBER_PURPOSE), idNumberIndex: pii.index(form.idNumber, ID_NUMBER_PURPOSE),
          idNumberMasked: maskIdNumber(form.idNumber), organisation: form.organisation, state: 'PENDING', reviewer: null, reason: null,
          consentedAt: input.consentedAt, createdAt: at, reviewedAt: null,
          purgeAfter: new Date(at.getTime() + REJECTED_RETENTION_DAYS * DAY_MS), sandbox: this.sandbox,
        });
        await this.repo.insertFiles(em, form.files.map((f) => ({
          submissionId: row.id, kind: f.kind, contentType: f.contentType, size: f.bytes.length,
          sealed: pii.encryptBytes(f.bytes, documentPurpose(row.id, f.kind)), createdAt: at,
        })));
        return row;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('您已提交的材料正在审核中，请等待审核结果', `second pending document submission for ${openid.slice(-6)}`, { cause: err });
      throw err;
    }
  }

  listPending(): Promise<DocumentSubmission[]> {
    return this.repo.pending(this.deps.db.manager, { includeSandbox: this.sandbox });
  }

  /** For the reviewer: decrypts the typed name and ID number and the images; every read is audited (vault hook + access row). */
  async show(id: number, reviewer: string): Promise<ShownSubmission> {
    const actor = actorOf(reviewer);
    const { db, pii } = this.deps;
    const submission = await this.repo.byId(db.manager, id, { includeSandbox: this.sandbox });
    if (!submission) throw new NotFoundError('没有这条材料', `document submission ${id} not found`);
    await inTransaction(db, (em) => this.repo.recordAccess(em, { submissionId: id, actor, action: 'show', at: this.now() }));
    const access = { actor, reason: 'handler-documents-review', subject: `handler_document:${id}` };
    const files = (await this.repo.filesOf(db.manager, id)).map((f) => ({
      kind: f.kind, contentType: f.contentType, bytes: pii.decryptBytes(Buffer.from(f.sealed), documentPurpose(id, f.kind), access),
    }));
    return { submission, name: pii.decrypt(submission.nameSealed, NAME_PURPOSE, access), idNumber: pii.decrypt(submission.idNumberSealed, ID_NUMBER_PURPOSE, access), files };
  }

  /**
   * Approves and makes the openid's verified handler (method documents; it replaces an earlier one, as a new
   * liveness pass would). Idempotent: approving an approved submission changes nothing.
   */
  async approve(id: number, reviewer: string): Promise<{ handler: VerifiedHandler | null; already: boolean }> {
    const actor = actorOf(reviewer);
    const at = this.now();
    const approvedNotice = (openid: string) => reviewResultNotice({ openid, subject: 'documents', approved: true, reason: null, decidedAt: at, key: `doc-${id}-APPROVED` });
    const result = await inTransaction(this.deps.db, async (em) => {
      const s = await this.repo.byId(em, id, { includeSandbox: this.sandbox, lock: true });
      if (!s) throw new NotFoundError('没有这条材料', `document submission ${id} not found`);
      if (s.state === 'APPROVED') return { handler: await this.handlers.verifiedOf(em, s.openid), already: true };
      if (s.state === 'REJECTED') throw new ConflictError('该材料已驳回', `document submission ${id} was rejected; the handler must submit again`);
      const purgeAfter = addYears(at, RETENTION_YEARS);
      if (!await this.repo.review(em, id, { state: 'APPROVED', reviewer: actor, reason: null, reviewedAt: at, purgeAfter })) {
        throw new ConflictError('该材料已被其他审核人处理', `document submission ${id} reviewed concurrently`);
      }
      await this.repo.recordAccess(em, { submissionId: id, actor, action: 'approve', at });
      const handler = await this.handlers.upsertVerified(em, {
        openid: s.openid, nameSealed: s.nameSealed, nameMasked: s.nameMasked, idNumberSealed: s.idNumberSealed, idNumberIndex: s.idNumberIndex,
        idNumberMasked: s.idNumberMasked, method: 'documents', attemptId: s.id, verifiedAt: at, purgeAfter, sandbox: s.sandbox,
      }, at);
      // 审核结果通知 is owed from this commit on; it is queued after it (the outbox keeps it through a crash in between).
      await NoticeOutbox.record(em, approvedNotice(s.openid), at);
      return { handler, already: false, openid: s.openid };
    });
    if (!result.already && result.openid) await enqueueOwedNotice(this.deps, approvedNotice(result.openid));
    return { handler: result.handler, already: result.already };
  }

  /** Rejects with a reason the handler sees on the page; they may submit again. Idempotent for the same submission. */
  async reject(id: number, reviewer: string, reason: string): Promise<{ already: boolean }> {
    const actor = actorOf(reviewer);
    const text = reason.replace(/\s+/g, ' ').trim();
    if (text.length < 2 || text.length > 200) throw new ValidationError('请填写驳回原因（2-200 字）', 'reject reason must be 2-200 characters');
    const at = this.now();
    const rejectedNotice = (openid: string) => reviewResultNotice({ openid, subject: 'documents', approved: false, reason: text, decidedAt: at, key: `doc-${id}-REJECTED` });
    const result = await inTransaction(this.deps.db, async (em) => {
      const s = await this.repo.byId(em, id, { includeSandbox: this.sandbox, lock: true });
      if (!s) throw new NotFoundError('没有这条材料', `document submission ${id} not found`);
      if (s.state === 'REJECTED') return { already: true };
      if (s.state === 'APPROVED') throw new ConflictError('该材料已通过', `document submission ${id} was approved already`);
      if (!await this.repo.review(em, id, { state: 'REJECTED', reviewer: actor, reason: text, reviewedAt: at, purgeAfter: new Date(at.getTime() + REJECTED_RETENTION_DAYS * DAY_MS) })) {
        throw new ConflictError('该材料已被其他审核人处理', `document submission ${id} reviewed concurrently`);
      }
      await this.repo.recordAccess(em, { submissionId: id, actor, action: 'reject', at });
      await NoticeOutbox.record(em, rejectedNotice(s.openid), at);
      return { already: false, openid: s.openid };
    });
    if (!result.already && result.openid) await enqueueOwedNotice(this.deps, rejectedNotice(result.openid));
    return { already: result.already };
  }

  /**
   * Deletes submissions past purge_after together with their images and access trail (one transaction per
   * page of 100). For the daily purge job, beside HandlerService.purgeExpired.
   */
  async purgeExpired(now: Date): Promise<{ submissions: number; files: number }> {
    const total = { submissions: 0, files: 0 };
    for (;;) {
      const page = await inTransaction(this.deps.db, (em) => this.repo.purgeExpired(em, now));
      if (!page) return total;
      total.submissions += page.submissions;
      total.files += page.files;
    }
  }

  private async countToday(what: 'uploads' | 'submissions', openid: string): Promise<number> {
    return incrForChinaDay(this.deps.store, (day) => `handler-documents:${what}:${day}:${openid}`, this.deps.clock.nowMs());
  }

  private limitError(openid: string, what: string): TooManyRequestsError {
    const limit = what === 'uploads' ? UPLOADS_PER_DAY : SUBMISSIONS_PER_DAY;
    return new TooManyRequestsError(`今日提交次数已达上限（${limit} 次），请明天再试，或致电客服 ${BRAND.hotline}`, `handler documents daily ${what} limit for ${openid.slice(-6)}`);
  }
}

/** `operator:<name>`: the reviewer as recorded and audited. */
export function actorOf(reviewer: string): string {
  if (!REVIEWER.test(reviewer)) throw new ValidationError('审核人名称无效', 'reviewer must be 1-48 letters, digits, . _ @ -');
  return `operator:${reviewer}`;
}
