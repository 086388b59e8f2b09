import { type Deps } from '../../deps';
import { formatDateTime } from '../certificates/view-model';
import { ascii32, deliverTemplate, thing20 } from '../followers/template-delivery';
import { NoticeOutbox, noticeKeyOf, type OwedNotice } from '../notices/outbox';

export const REVIEW_NOTICE_JOB = 'handlers.review-notice';

/** What an operator decided about a handler: the 经办人授权 queue or the document review (the non-face check). */
export interface ReviewNotice {
  openid: string;
  subject: 'authorisation' | 'documents';
  approved: boolean;
  reason: string | null;
  decidedAt: Date;
  /** Unique per decision (kind, row, state): the job id and the client_msg_id, so a repeat sends nothing twice. */
  key: string;
}

const SUBJECT: Record<ReviewNotice['subject'], string> = { authorisation: '经办人授权审核', documents: '经办人证件审核' };

/**
 * Owed once the decision commits: recorded in the deciding transaction (NoticeOutbox.record) and queued after the
 * commit, so nobody is told of a decision that rolled back and a crash in between loses nothing (the periodic pass
 * queues it). The operator works from a command; without this message the handler would learn the result only by looking.
 */
export function reviewResultNotice(notice: ReviewNotice): OwedNotice {
  return { key: `rv-${notice.key}`, job: REVIEW_NOTICE_JOB, payload: { ...notice, decidedAt: notice.decidedAt.toISOString() } };
}

/**
 * 审核结果通知 (类目模板: thing1 审核事项, phrase2 审核结果, thing3 说明, time4 审核时间), linking to the page that
 * shows the same result. A user who no longer follows (43004, or known from the followers table) is not asked:
 * the handler and renewal pages show the state anyway. Final refusals are logged and not retried.
 */
export function registerReviewNoticeJobs(deps: Deps): void {
  const outbox = new NoticeOutbox(deps);
  deps.jobs.register(REVIEW_NOTICE_JOB, (payload) => outbox.deliver(noticeKeyOf(payload, `rv-${String(payload.key)}`), async () => {
    const templateId = deps.config.wechat.templates?.reviewResult;
    if (!templateId) return 'skipped';
    const approved = payload.approved === true;
    const subject = payload.subject === 'documents' ? 'documents' : 'authorisation';
    const explanation = approved
      ? (subject === 'documents' ? '认证已完成，可以续期缴费' : '可以为该单位续期缴费')
      : `未通过：${typeof payload.reason === 'string' && payload.reason ? payload.reason : '请联系客服'}`;
    const path = approved ? '/h5/renew' : subject === 'documents' ? '/h5/handler/documents' : '/h5/renew';
    // Not following, or refused for good: the 续期缴费 and document pages show the result anyway.
    return deliverTemplate(deps, {
      touser: String(payload.openid), template_id: templateId, client_msg_id: ascii32(`rv-${String(payload.key)}`), url: `${deps.config.publicBaseUrl}${path}`,
      data: { thing1: SUBJECT[subject], phrase2: approved ? '审核通过' : '审核未通过', thing3: thing20(explanation), time4: formatDateTime(new Date(String(payload.decidedAt))) },
    }, `review ${subject}`);
  }));
}
