import { RenewalAuditLog } from '../modules/renewals/audit';
import { CliError, type CliIo, runCli, withDeps } from './bootstrap';

/**
 * `npm run audit:verify`: checks the renewal audit chain (every entry's hash and its link to the previous one),
 * then every signed head exported to RENEWAL_AUDIT_EXPORT_DIR against it (signature by the audit key, hash at that
 * seq): a row altered, removed, or a history rewritten with recomputed hashes is reported with the first bad seq.
 * `--export` also writes today's signed head (what the daily job does).
 */
export async function auditVerify(io: CliIo, argv: string[]): Promise<void> {
  await withDeps(io, { wechat: false }, async (deps) => {
    const log = new RenewalAuditLog(deps);
    const { auditExportDir, auditKeySeed } = deps.config.renewals;
    const result = await log.verify(auditExportDir, auditKeySeed);
    if (!result.ok) throw new CliError(`Renewal audit chain BROKEN at seq ${result.seq}: ${result.reason} (${result.count} entries).`);
    io.out(`Renewal audit chain OK: ${result.count} entries, head ${result.head ? `${result.head.seq} ${result.head.hash}` : '(empty)'}; ${result.headsChecked} exported head(s) match.`);
    if (argv.includes('--export')) {
      const file = await log.exportHead(auditExportDir, auditKeySeed);
      io.out(file ? `Signed head exported to ${file}.` : 'Nothing to export (the chain is empty).');
    }
  });
}

if (require.main === module) runCli(auditVerify);
