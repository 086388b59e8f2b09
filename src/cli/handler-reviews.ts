import { userInfo } from 'node:os';
import { formatDateTime } from '../modules/certificates/view-model';
import { HandlerAuthorisationService } from '../modules/handler-authorisation/service';
import { AppError } from '../lib/errors';
import { maskIdNumber } from '../lib/pii/id-number';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';
import { terminalText } from '../lib/terminal-text';

const USAGE = 'Usage: npm run handlers:reviews [-- --approve <id> | --reject <id> --reason "…" | --register <certificate id> [--id-number <n>] | --unregister <certificate id>] [--operator <name>]';

/**
 * `npm run handlers:reviews`: the operator queue of 经办人授权. A verified person who is not the first handler of
 * an organisation waits here (PENDING) until an operator, having checked with the unit (a letter of authority,
 * a call to the registered contact), approves or rejects. Names and ID numbers are shown masked only: the
 * decision needs the organisation and who asked, not the full number. Deciding twice changes nothing.
 *
 * `--register <certificate id>` records the handler the CA's files name for a certificate (「联系客服变更经办人」):
 * the ID number is read from stdin (so it stays out of the shell history) unless --id-number gives it; only its
 * HMAC index is stored. `--unregister` clears it, and the organisation rules apply again.
 */
export async function handlerReviews(io: CliIo, argv: string[]): Promise<void> {
  const arg = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] ?? '' : undefined;
  };
  const register = arg('--register') ?? arg('--unregister');
  if (register !== undefined) return registerHandler(io, register, argv.includes('--unregister') ? null : arg('--id-number'));
  const approve = arg('--approve');
  const reject = arg('--reject');
  const reason = arg('--reason');
  if (approve !== undefined && reject !== undefined) throw new CliError(USAGE);
  const idText = approve ?? reject;
  const id = idText === undefined ? undefined : Number(idText);
  if (id !== undefined && !(Number.isSafeInteger(id) && id > 0)) throw new CliError(USAGE);
  if (reject !== undefined && !reason?.trim()) throw new CliError('A rejection needs --reason "…" (the handler is shown it).');
  const operator = `operator:${arg('--operator') || io.env.USER || userInfo().username}`;

  await withDeps(io, { wechat: false }, async (deps) => {
    const service = new HandlerAuthorisationService(deps);
    const at = new Date(deps.clock.nowMs());
    if (id !== undefined) {
      try {
        const { changed, row } = approve !== undefined ? await service.approve(id, operator, at) : await service.reject(id, operator, reason!, at);
        io.out(`Request ${id} ${row.state === 'APPROVED' ? 'approved' : 'rejected'}${changed ? '' : ' already (nothing changed)'}: ${terminalText(row.nameMasked)} for ${terminalText(row.organization ?? row.orgKey)}.`);
      } catch (err) {
        if (err instanceof AppError && err.status < 500) throw new CliError(`Request ${id}: ${err.detail ?? err.message}`);
        throw err;
      }
      return;
    }
    const pending = await service.pending();
    if (!pending.length) {
      io.out('No handler waits for approval.');
      return;
    }
    io.out(`${pending.length} handler(s) wait for approval (--approve <id>, or --reject <id> --reason "…"):`);
    for (const r of pending) {
      io.out(`#${r.id}  ${formatDateTime(r.requestedAt)}  ${terminalText(r.nameMasked)}  ${r.idNumberMasked}${r.sandbox ? '  [sandbox]' : ''}`);
      io.out(`    organisation: ${terminalText(r.organization ?? '—')}${r.creditCode ? ` (${terminalText(r.creditCode)})` : ''}`);
      io.out(`    asked through certificate #${r.certificateId}, WeChat user …${r.openid.slice(-6)}`);
    }
  });
}

async function registerHandler(io: CliIo, idText: string, idNumber: string | null | undefined): Promise<void> {
  const certificateId = Number(idText);
  if (!(Number.isSafeInteger(certificateId) && certificateId > 0)) throw new CliError(USAGE);
  const number = idNumber === undefined ? await readStdinLine() : idNumber;
  await withDeps(io, { wechat: false }, async (deps) => {
    let found: boolean;
    try {
      found = await new HandlerAuthorisationService(deps).registerHandler(certificateId, number, new Date(deps.clock.nowMs()));
    } catch (err) {
      if (err instanceof AppError && err.status < 500) throw new CliError(`ID number refused: ${err.userMessage}`);
      throw err;
    }
    if (!found) throw new CliError(`No certificate with id ${certificateId}.`);
    io.out(number === null ? `Certificate ${certificateId}: registered handler cleared.` : `Certificate ${certificateId}: registered handler set (${maskIdNumber(number)}).`);
  });
}

async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('ID number of the registered handler: ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!.trim();
}

if (require.main === module) runCli(handlerReviews);
