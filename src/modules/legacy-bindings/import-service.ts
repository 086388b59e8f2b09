import { type Deps } from '../../deps';
import { type ParsedLegacyFile } from './importer';
import { LegacyBindingRepository } from './repository';
import { LegacyRestoreService } from './service';

export interface ImportSummary {
  dataLines: number;
  accepted: number;
  rejected: number;
  inserted: number;
  alreadyImported: number;
  followersRestored: number;
  bindingsCreated: number;
  /** Entries of this file that name a certificate we do not know (yet). */
  pending: number;
}

/**
 * Stores a parsed legacy file (valid lines; a second import counts them as already imported) and restores at once
 * what the database alone allows: followers whose unionid we stored when they followed or visited. The same for
 * `npm run import:legacy` and the console's upload.
 */
export async function importLegacyBindings(deps: Deps, parsed: ParsedLegacyFile): Promise<ImportSummary> {
  const repo = new LegacyBindingRepository();
  const at = new Date(deps.clock.nowMs());
  const { inserted, already } = await repo.insertMissing(deps.db.manager, parsed.rows, at);
  const restored = await new LegacyRestoreService(deps).restoreKnownFollowers(parsed.rows.map((r) => r.unionid));
  const known = await repo.certificatesFor(deps.db.manager, parsed.rows, { includeSandbox: deps.config.sandbox });
  const pending = parsed.rows.filter((r) => !known.has(`${r.keyKind}:${r.keyValue}`)).length;
  return {
    dataLines: parsed.dataLines,
    accepted: parsed.dataLines - parsed.rejected.length,
    rejected: parsed.rejected.length,
    inserted,
    alreadyImported: already,
    followersRestored: restored.followers,
    bindingsCreated: restored.created,
    pending,
  };
}
