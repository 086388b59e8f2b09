import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { AppError } from '../lib/errors';
import { formatDateTime } from '../modules/certificates/view-model';
import { labelOf } from '../modules/handler-documents/schemas';
import { HandlerDocumentService } from '../modules/handler-documents/service';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';
import { terminalText } from '../lib/terminal-text';

const USAGE = `Usage: npm run handler-documents:review -- [--reviewer <name>]
    (no option)                      list the submissions waiting for review (masked)
    --show <id> --out <dir>          write the decrypted images to <dir> and print the typed name and ID number (audited)
    --approve <id>                   approve: the openid becomes a verified handler (method documents)
    --reject <id> --reason "<text>"  reject; the handler sees the reason on the page and may submit again`;

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  if (at < 0) return undefined;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new CliError(`${name} needs a value.\n${USAGE}`);
  return value;
}

function idOption(argv: string[], name: string): number | undefined {
  const raw = option(argv, name);
  if (raw === undefined) return undefined;
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) throw new CliError(`${name}: not a submission id: ${raw}`);
  return id;
}

/**
 * `npm run handler-documents:review`: the operator queue of the non-face alternative to handler liveness. The
 * reviewer is recorded with every show/approve/reject (`--reviewer`, default the OS user) and every decrypt goes
 * through the PII vault's audit hook. Images are written only where the reviewer asks, readable by them alone.
 */
export async function handlerDocumentsReview(io: CliIo, argv: string[]): Promise<void> {
  if (argv.includes('--help')) return io.out(USAGE);
  const reviewer = option(argv, '--reviewer') ?? userInfo().username;
  const show = idOption(argv, '--show');
  const approve = idOption(argv, '--approve');
  const reject = idOption(argv, '--reject');
  if ([show, approve, reject].filter((v) => v !== undefined).length > 1) throw new CliError(`One of --show, --approve, --reject at a time.\n${USAGE}`);
  const out = option(argv, '--out');
  const reason = option(argv, '--reason');
  if (show !== undefined && !out) throw new CliError(`--show needs --out <dir>.\n${USAGE}`);
  if (reject !== undefined && !reason) throw new CliError(`--reject needs --reason "<text>".\n${USAGE}`);

  await withDeps(io, { wechat: false }, async (deps) => {
    const service = new HandlerDocumentService(deps);
    try {
      if (show !== undefined) {
        const shown = await service.show(show, reviewer);
        const dir = resolve(out!);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const s = shown.submission;
        io.out(`#${s.id}  ${s.state}  submitted ${formatDateTime(s.createdAt)}${s.sandbox ? '  [sandbox]' : ''}`);
        io.out(`    name:         ${terminalText(shown.name)}`);
        io.out(`    ID number:    ${shown.idNumber}`);
        io.out(`    organisation: ${terminalText(s.organisation)}`);
        if (s.reason) io.out(`    reason:       ${terminalText(s.reason)}`);
        for (const f of shown.files) {
          const path = join(dir, `${s.id}-${f.kind}.${f.contentType === 'image/png' ? 'png' : 'jpg'}`);
          writeFileSync(path, f.bytes, { mode: 0o600 });
          chmodSync(path, 0o600);
          io.out(`    ${labelOf(f.kind)}: ${path}`);
        }
        io.out(`Access recorded for operator:${reviewer}. Delete the files in ${dir} after the review.`);
        return;
      }
      if (approve !== undefined) {
        const { already } = await service.approve(approve, reviewer);
        io.out(already ? `Submission ${approve} was approved already; nothing changed.` : `Submission ${approve} approved: the handler is verified (method documents).`);
        return;
      }
      if (reject !== undefined) {
        const { already } = await service.reject(reject, reviewer, reason!);
        io.out(already ? `Submission ${reject} was rejected already; nothing changed.` : `Submission ${reject} rejected; the handler sees: 未通过：${reason!.trim()}`);
        return;
      }
      const pending = await service.listPending();
      if (!pending.length) return io.out('No handler documents wait for review.');
      io.out(`${pending.length} submission(s) wait for review (--show <id> --out <dir> to see the images):`);
      for (const s of pending) {
        io.out(`#${s.id}  ${formatDateTime(s.createdAt)}  ${terminalText(s.nameMasked)}  ${s.idNumberMasked}  ${terminalText(s.organisation)}  openid …${s.openid.slice(-6)}${s.sandbox ? '  [sandbox]' : ''}`);
      }
    } catch (err) {
      if (err instanceof AppError) throw new CliError(`${err.userMessage} (${err.detail ?? err.code})`);
      throw err;
    }
  });
}

if (require.main === module) runCli(handlerDocumentsReview);
