import { CertificateRepository } from '../modules/certificates/repository';
import { formatDateTime } from '../modules/certificates/view-model';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';
import { terminalText } from '../lib/terminal-text';

/**
 * `npm run certs:reviews [-- --resolve <id>]`: the operator queue of certificates that chain to a trusted root
 * but match no project rule in CERT_PROJECTS_FILE (they cannot be priced, so they cannot be bound). The
 * operator adds a rule (project, certificate type) and resolves the entry; the holder then presents it again.
 */
export async function certReviews(io: CliIo, argv: string[]): Promise<void> {
  const at = argv.indexOf('--resolve');
  const resolveId = at >= 0 ? Number(argv[at + 1]) : undefined;
  if (at >= 0 && !(Number.isSafeInteger(resolveId) && resolveId! > 0)) throw new CliError('Usage: npm run certs:reviews [-- --resolve <id>]');
  await withDeps(io, { wechat: false }, async (deps) => {
    const repo = new CertificateRepository();
    if (resolveId !== undefined) {
      const done = await repo.resolveReview(deps.db.manager, resolveId);
      if (!done) throw new CliError(`No pending review with id ${resolveId}.`);
      io.out(`Review ${resolveId} resolved.`);
      return;
    }
    const pending = await repo.pendingReviews(deps.db.manager);
    if (!pending.length) {
      io.out('No certificates wait for review.');
      return;
    }
    io.out(`${pending.length} certificate(s) wait for a project rule (add one to ${deps.config.certificates.projectsFile}, restart, then --resolve <id>):`);
    for (const r of pending) {
      io.out(`#${r.id}  first ${formatDateTime(r.firstSeenAt)}, last ${formatDateTime(r.lastSeenAt)}, seen ${r.seenCount}x${r.sandbox ? '  [sandbox]' : ''}`);
      io.out(`    subject: ${terminalText(r.subjectDn)}`);
      io.out(`    issuer:  ${terminalText(r.issuerDn)}`);
      io.out(`    policies: ${terminalText(r.policyOids || 'none')}`);
      io.out(`    why: ${terminalText(r.reason)}`);
    }
  });
}

if (require.main === module) runCli(certReviews);
