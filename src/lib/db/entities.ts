import { FollowerEntity } from '../../modules/followers/entities';

/** Every entity schema; modules add theirs here. */
export const entities = [FollowerEntity];
