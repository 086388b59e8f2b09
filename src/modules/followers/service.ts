import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { GroupCommit } from '../../lib/db/group-commit';
import { type Follower } from './entities';
import { type FollowChange, FollowerRepository, type FollowerWrite } from './repository';

/** Records who follows the account and from which QR scene they first came. */
export class FollowerService {
  private readonly repo = new FollowerRepository();

  /** Follows arrive in bursts (campaigns): concurrent ones share one statement and one commit. */
  private readonly writes: GroupCommit<FollowerWrite>;

  constructor(private readonly db: DataSource, private readonly clock: Clock, private readonly sandbox: boolean) {
    this.writes = new GroupCommit<FollowerWrite>((batch) => this.repo.applyMany(db, batch, sandbox), { db });
  }

  /** Committed when this resolves: the webhook replies after it. */
  record(openid: string, change: FollowChange): Promise<void> {
    return this.writes.submit({ openid, change, at: new Date(this.clock.nowMs()) });
  }

  /** Sandbox rows are invisible outside sandbox mode: nothing recorded there counts in production. */
  find(openid: string): Promise<Follower | null> {
    return this.repo.findByOpenid(this.db.manager, openid, { includeSandbox: this.sandbox });
  }
}
