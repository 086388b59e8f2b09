import { Followers1764100000000 } from './1764100000000-Followers';

/** Every migration, in order. Listed explicitly so the compiled build and tsx runs find the same set. */
export const migrations = [Followers1764100000000];
