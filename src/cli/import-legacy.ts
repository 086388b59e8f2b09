import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ValidationError } from '../lib/errors';
import { parseLegacyFile, rejectionReportCsv } from '../modules/legacy-bindings/importer';
import { importLegacyBindings, type ImportSummary } from '../modules/legacy-bindings/import-service';
import { CliError, type CliIo, runCli, withDeps } from './bootstrap';
import { terminalText } from '../lib/terminal-text';

const USAGE = 'usage: npm run import:legacy -- <file.csv> [--report rejected.csv]';
/** A file of a million lines is ~60 MB; anything bigger is not a legacy export. */
const MAX_BYTES = 100 * 1024 * 1024;
const PRINTED_REJECTIONS = 100;

export type { ImportSummary };

/**
 * `npm run import:legacy -- file.csv`: the old mini program's bindings (seed 二), validated line by line. Valid
 * lines are stored (a second run counts them as already imported), rejected ones are listed with their line
 * numbers and reasons (and written to --report). Followers whose unionid is already known get their
 * certificates bound at once; everyone else when they follow again or open the H5 app.
 */
export async function importLegacy(io: CliIo, argv: string[]): Promise<ImportSummary | undefined> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { report: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    io.out(USAGE);
    return undefined;
  }
  if (positionals.length !== 1) throw new CliError(USAGE);
  const file = resolve(positionals[0]);
  let bytes: Buffer;
  try {
    if (statSync(file).size > MAX_BYTES) throw new CliError(`${file}: larger than ${MAX_BYTES / 1024 / 1024} MB`);
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }

  let parsed;
  try {
    parsed = parseLegacyFile(bytes, basename(file));
  } catch (err) {
    if (err instanceof ValidationError) throw new CliError(`${file}: ${err.userMessage}`);
    throw err;
  }

  if (parsed.ignoredColumns.length) io.out(`Ignored columns: ${terminalText(parsed.ignoredColumns.join(', '))}`);
  for (const r of parsed.rejected.slice(0, PRINTED_REJECTIONS)) io.out(`line ${r.line}: ${terminalText(r.reason)}`);
  if (parsed.rejected.length > PRINTED_REJECTIONS) io.out(`… and ${parsed.rejected.length - PRINTED_REJECTIONS} more rejected lines${values.report ? '' : ' (use --report to get them all)'}`);
  if (values.report) {
    const out = resolve(values.report);
    writeFileSync(out, rejectionReportCsv(parsed.rejected));
    io.out(`Rejected lines written to ${out}`);
  }

  const summary = await withDeps(io, { wechat: false }, (deps) => importLegacyBindings(deps, parsed));

  io.out(`Lines read:          ${summary.dataLines} (accepted ${summary.accepted}, rejected ${summary.rejected})`);
  io.out(`Bindings imported:   ${summary.inserted} new, ${summary.alreadyImported} already imported`);
  io.out(`Restored now:        ${summary.bindingsCreated} binding(s) for ${summary.followersRestored} known follower(s)`);
  io.out(`Waiting for a certificate we do not know yet: ${summary.pending} (restored once the certificate is known and the user visits, or by npm run restore:legacy)`);
  return summary;
}

if (require.main === module) runCli(async (io, argv) => void (await importLegacy(io, argv)));
