import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, extname } from 'node:path';
import { ValidationError } from '../lib/errors';
import { StatementImportService } from '../modules/statement-imports/service';
import { type ParsedStatement } from '../modules/transfers/statement-file';
import { readStatement } from '../modules/transfers/statement-read';
import { MAX_XLSX_BYTES } from '../modules/transfers/statement-xlsx';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';
import { terminalText } from '../lib/terminal-text';

export { readStatement } from '../modules/transfers/statement-read';

/**
 * `npm run statements:import -- file.csv|file.xlsx [--sheet=名称]`: reads a bank statement export (format: README, "对公汇款") and
 * credits the orders whose 6-digit code, amount and payer all match; everything doubtful becomes an exception
 * for a person. Prints one line per statement line. Safe to run twice: lines are known by their bank serial.
 */
export async function importStatement(io: CliIo, argv: string[]): Promise<{ credited: number; exceptions: number; skipped: number; rejected: number }> {
  const file = argv.find((a) => !a.startsWith('--'));
  const sheet = argv.find((a) => a.startsWith('--sheet='))?.slice('--sheet='.length);
  if (!file) throw new CliError('Usage: npm run statements:import -- <statement.csv|statement.xlsx> [--sheet=<worksheet name>]');
  let bytes: Buffer;
  try {
    // An oversized workbook is refused before it is read into memory.
    if (extname(file).toLowerCase() === '.xlsx' && (await stat(file)).size > MAX_XLSX_BYTES) {
      throw new Error(`larger than ${MAX_XLSX_BYTES / 1048576} MB (export a shorter date range)`);
    }
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: ParsedStatement;
  try {
    parsed = await readStatement(file, bytes, { sheet: sheet || undefined });
  } catch (err) {
    if (err instanceof ValidationError) throw new CliError(`${basename(file)}: ${err.userMessage}`);
    throw err;
  }
  return withDeps(io, { wechat: false }, async (deps) => {
    // The console's import service: the same TransferService.importLines, and the run kept in the console's history.
    const { report, totals } = await new StatementImportService(deps).importParsed({ name: basename(file), bytes: bytes.length }, parsed, { id: 0, username: `shell:${io.env.USER ?? userInfo().username}` });
    for (const r of report) io.out(`line ${r.line}: ${terminalText(r.text)}`);
    io.out(`入账 ${totals.credited} 笔，异常 ${totals.exceptions} 笔，跳过 ${totals.skipped} 笔，格式错误 ${totals.rejected} 行`);
    return totals;
  });
}

if (require.main === module) runCli(async (io, argv) => void (await importStatement(io, argv)));
