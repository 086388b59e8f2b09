import { EntitySchema } from 'typeorm';

/** Someone who follows (or followed) the official account. `sandbox` rows never count in production. */
export interface Follower {
  id: number;
  openid: string;
  unionid: string | null;
  subscribed: boolean;
  firstScene: string | null;
  lastScene: string | null;
  subscribedAt: Date | null;
  unsubscribedAt: Date | null;
  sandbox: boolean;
  /** A subscribe owes a legacy-binding restore (the restore pass clears it). */
  restoreOwed: boolean;
  createdAt: Date;
  updatedAt: Date;
}


export const FollowerEntity = new EntitySchema<Follower>({
  name: 'Follower',
  tableName: 'followers',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    unionid: { type: String, length: 64, nullable: true },
    subscribed: { type: Boolean },
    firstScene: { name: 'first_scene', type: String, length: 64, nullable: true },
    lastScene: { name: 'last_scene', type: String, length: 64, nullable: true },
    subscribedAt: { name: 'subscribed_at', type: Date, nullable: true },
    unsubscribedAt: { name: 'unsubscribed_at', type: Date, nullable: true },
    sandbox: { type: Boolean },
    restoreOwed: { name: 'restore_owed', type: Boolean, default: false },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_followers_openid', columns: ['openid'] }],
  indices: [{ name: 'ix_followers_restore_owed', columns: ['restoreOwed', 'updatedAt'] }],
});
