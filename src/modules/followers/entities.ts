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
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_followers_openid', columns: ['openid'] }],
});
