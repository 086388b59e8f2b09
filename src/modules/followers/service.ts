import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { type Follower } from './entities';
import { type FollowChange, FollowerRepository } from './repository';

/** Records who follows the account and from which QR scene they first came. */
export class FollowerService {
  private readonly repo = new FollowerRepository();

  constructor(private readonly db: DataSource, private readonly clock: Clock, private readonly sandbox: boolean) {}

  /** One statement, committed before the webhook replies. */
  record(openid: string, change: FollowChange): Promise<void> {
    return this.repo.apply(this.db, openid, change, new Date(this.clock.nowMs()), this.sandbox);
  }

  /** Sandbox rows are invisible outside sandbox mode: nothing recorded there counts in production. */
  find(openid: string): Promise<Follower | null> {
    return this.repo.findByOpenid(this.db.manager, openid, { includeSandbox: this.sandbox });
  }
}
