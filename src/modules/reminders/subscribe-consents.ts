import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { dialectOf, retryTransient, utcDatetime } from '../../lib/db/sql';
import { SubscribeConsentEntity } from './entities';

export type SubscribeAnswer = { openid: string; templateId: string; status: 'accept' | 'reject' };

/**
 * 订阅通知 answers as the webhook reports them (subscribe_msg_popup_event: the user's tap in the popup;
 * subscribe_msg_change_event: a later change in the account's settings). A one-time accept grants one send;
 * a reject (or a change to reject) takes every grant away.
 */
export class SubscribeConsents {
  constructor(private readonly db: DataSource, private readonly clock: Clock) {}

  async record(answer: SubscribeAnswer): Promise<void> {
    const at = utcDatetime(new Date(this.clock.nowMs()));
    const accept = answer.status === 'accept';
    const mysql = dialectOf(this.db) === 'mysql';
    const onExisting = accept
      ? `status = 'accept', grants = grants + 1, updated_at = ${mysql ? 'VALUES(updated_at)' : 'excluded.updated_at'}`
      : `status = 'reject', grants = 0, updated_at = ${mysql ? 'VALUES(updated_at)' : 'excluded.updated_at'}`;
    const sql = 'INSERT INTO subscribe_consents (openid, template_id, status, grants, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) '
      + (mysql ? `ON DUPLICATE KEY UPDATE ${onExisting}` : `ON CONFLICT (openid, template_id) DO UPDATE SET ${onExisting}`);
    await retryTransient(() => this.db.query(sql, [answer.openid, answer.templateId, answer.status, accept ? 1 : 0, at, at]));
  }

  /** Uses one grant, atomically (two runs never spend the same acceptance); false when none is left. */
  async take(openid: string, templateId: string): Promise<boolean> {
    const res = await this.db.createQueryBuilder().update(SubscribeConsentEntity)
      .set({ grants: () => 'grants - 1', updatedAt: new Date(this.clock.nowMs()) })
      .where('openid = :openid AND template_id = :templateId AND grants > 0', { openid, templateId }).execute();
    return res.affected === 1;
  }

  /** A send that failed retryably gives its grant back; one WeChat refused (43101) does not. */
  async giveBack(openid: string, templateId: string): Promise<void> {
    await this.db.createQueryBuilder().update(SubscribeConsentEntity).set({ grants: () => 'grants + 1' })
      .where('openid = :openid AND template_id = :templateId', { openid, templateId }).execute();
  }

  async grantsOf(openid: string, templateId: string): Promise<number> {
    return (await this.db.getRepository(SubscribeConsentEntity).findOneBy({ openid, templateId }))?.grants ?? 0;
  }
}
