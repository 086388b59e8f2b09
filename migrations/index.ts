import { Certificates1764300000000 } from './1764300000000-Certificates';
import { Followers1764100000000 } from './1764100000000-Followers';
import { SandboxCa1764200000000 } from './1764200000000-SandboxCa';

/** Every migration, in order. Listed explicitly so the compiled build and tsx runs find the same set. */
export const migrations = [Followers1764100000000, SandboxCa1764200000000, Certificates1764300000000];
