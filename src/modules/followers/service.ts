import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { type Follower } from './entities';
import { type FollowChange, FollowerRepository } from './repository';

/** Records who follows the account and from which QR scene they came. */
export class FollowerService {
  private readonly repo = new FollowerRepository();

  constructor(private readonly db: DataSource, private readonly clock: Clock, private readonly sandbox: boolean) {}

  /** One transaction per event: the follower row and its history move together. */
  async record(openid: string, change: FollowChange): Promise<void> {
    const at = new Date(this.clock.nowMs());
    await this.db.transaction((em) => this.repo.apply(em, openid, change, at, this.sandbox));
  }

  /** Sandbox rows are invisible outside sandbox mode: nothing recorded there counts in production. */
  find(openid: string): Promise<Follower | null> {
    return this.repo.findByOpenid(this.db.manager, openid, { includeSandbox: this.sandbox });
  }
}
