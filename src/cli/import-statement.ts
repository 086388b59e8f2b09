import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { TransferService } from '../modules/transfers/service';
import { parseStatementCsv } from '../modules/transfers/statement-file';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';

/**
 * `npm run statements:import -- file.csv`: reads a bank statement export (format: README, "对公汇款") and
 * credits the orders whose 6-digit code, amount and payer all match; everything doubtful becomes an exception
 * for a person. Prints one line per statement line. Safe to run twice: lines are known by their bank serial.
 */
export async function importStatement(io: CliIo, argv: string[]): Promise<{ credited: number; exceptions: number; skipped: number; rejected: number }> {
  const file = argv.find((a) => !a.startsWith('--'));
  if (!file) throw new CliError('Usage: npm run statements:import -- <statement.csv>');
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseStatementCsv(bytes);
  return withDeps(io, { wechat: false }, async (deps) => {
    const outcomes = await new TransferService(deps).importLines(parsed.lines, basename(file), new Date(deps.clock.nowMs()));
    const report = [
      ...parsed.rejected.map((r) => ({ line: r.line, text: `格式错误：${r.reason}` })),
      ...outcomes.map((o) => ({
        line: o.line,
        text: o.result === 'credited' ? `入账 ${o.orderNo}（流水号 ${o.bankSerial}）`
          : o.result === 'skipped' ? `已导入过，跳过（流水号 ${o.bankSerial}）`
            : `异常 ${o.reason}：${o.message}${o.orderNo ? `（订单 ${o.orderNo}）` : ''}（流水号 ${o.bankSerial}）`,
      })),
    ].sort((a, b) => a.line - b.line);
    for (const r of report) io.out(`line ${r.line}: ${r.text}`);
    const count = (k: string) => outcomes.filter((o) => o.result === k).length;
    const totals = { credited: count('credited'), exceptions: count('exception'), skipped: count('skipped'), rejected: parsed.rejected.length };
    io.out(`入账 ${totals.credited} 笔，异常 ${totals.exceptions} 笔，跳过 ${totals.skipped} 笔，格式错误 ${totals.rejected} 行`);
    return totals;
  });
}

if (require.main === module) runCli(async (io, argv) => void (await importStatement(io, argv)));
