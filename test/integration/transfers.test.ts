import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { importStatement } from '../../src/cli/import-statement';
import { type Certificate } from '../../src/modules/certificates/entities';
import { OrderService } from '../../src/modules/orders/service';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { TransferService } from '../../src/modules/transfers/service';
import { parseStatementCsv } from '../../src/modules/transfers/statement-file';
import { backend } from '../helpers/harness';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTestApp } from '../helpers/use-test-app';

/** 对公汇款: transfer codes on real orders, and bank statement imports crediting them (or not) on the real database. */
const DAY = 86_400_000;
let orders: OrderService;
let transfers: TransferService;
let seq = 0;

const t = useTestApp({ startJobs: false });
// Runs after useTestApp's beforeAll (hooks run in the order they are registered): the instance is up.
beforeAll(async () => {
  orders = new OrderService(t.instance.deps);
  transfers = new TransferService(t.instance.deps);
});

async function orderFor(openid: string, organization: string): Promise<{ orderNo: string; totalFen: number; cert: Certificate }> {
  const now = Date.now();
  const cert = await boundCertificate(t.instance.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
  await verifyHandler(t.instance.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 2 }], at: new Date() });
  return { orderNo: order.orderNo, totalFen: order.totalFen, cert };
}

function io(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { env: { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...t.handle.env }, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

const csv = (rows: string[][]) => {
  const file = join(mkdtempSync(join(tmpdir(), 'statement-')), 'statement.csv');
  writeFileSync(file, ['交易日期,付款人名称,付款账号,付款行,金额,附言,流水号', ...rows.map((r) => r.join(','))].join('\n'));
  return file;
};

describe(`对公汇款 (${backend})`, () => {
  it('When a handler asks for the transfer code twice, then the same 6-digit code comes back and the order is set to transfer', async () => {
    const { orderNo } = await orderFor('oTransferCode', '梅州市转账码测试有限公司');
    const first = await transfers.codeFor(orderNo, 'oTransferCode', new Date());
    expect(first.code).toMatch(/^\d{6}$/);
    expect((await transfers.codeFor(orderNo, 'oTransferCode', new Date())).code).toBe(first.code);
    expect((await orders.findOrder(orderNo, 'oTransferCode')).paymentMethod).toBe('transfer');
    await expect(transfers.codeFor(orderNo, 'oSomeoneElse', new Date())).rejects.toMatchObject({ status: 404 });
  });

  it('When a statement is imported, then exact matches are credited, every doubtful line is an exception with its reason, and a second import changes nothing', async () => {
    const good = await orderFor('oStmt1', '梅州市示范建设工程（集团）有限公司');
    const goodCode = (await transfers.codeFor(good.orderNo, 'oStmt1', new Date())).code;
    const other = await orderFor('oStmt2', '梅州市另一单位有限公司');
    const otherCode = (await transfers.codeFor(other.orderNo, 'oStmt2', new Date())).code;
    const closed = await orderFor('oStmt3', '梅州市已关闭订单有限公司');
    const closedCode = (await transfers.codeFor(closed.orderNo, 'oStmt3', new Date())).code;
    await orders.cancel(closed.orderNo, 'oStmt3', new Date());
    const yuan = (fen: number) => (fen / 100).toFixed(2);
    const run = `${Date.now()}`;
    const file = csv([
      ['2026-11-25', '梅州市示范建设工程(集团)有限公司', '4400100', '建设银行', yuan(good.totalFen), goodCode, `S${run}-1`],
      ['2026-11-25', '梅州市另一单位有限公司', '4400200', '工商银行', yuan(other.totalFen - 1), otherCode, `S${run}-2`],
      ['2026-11-25', '梅州市另一单位有限公司', '4400200', '工商银行', yuan(other.totalFen), `${otherCode} 续期`, `S${run}-3`],
      ['2026-11-25', '梅州市财政局零余额账户', '4400300', '中国银行', yuan(other.totalFen), otherCode, `S${run}-4`],
      ['2026-11-25', '梅州市某某公司', '4400200', '工商银行', yuan(other.totalFen), otherCode, `S${run}-5`],
      ['2026-11-25', '梅州市另一单位有限公司', '4400200', '工商银行', yuan(other.totalFen), '000000', `S${run}-6`],
      ['2026-11-25', '梅州市已关闭订单有限公司', '4400400', '农业银行', yuan(closed.totalFen), closedCode, `S${run}-7`],
      ['2026-11-25', '梅州市示范建设工程(集团)有限公司', '4400100', '建设银行', yuan(good.totalFen), goodCode, `S${run}-1`],
      ['2026-11-25', '梅州市缺流水号有限公司', '4400500', '建设银行', '1.00', '123456', ''],
    ]);
    const first = io();
    expect(await importStatement(first, [file])).toEqual({ credited: 1, exceptions: 6, skipped: 1, rejected: 1 });
    const report = first.lines.join('\n');
    expect(report).toContain(`line 2: 入账 ${good.orderNo}`);
    for (const [line, reason] of [[3, 'amount-mismatch'], [4, 'remark-not-code'], [5, 'fiscal-payer'], [6, 'name-mismatch'], [7, 'unknown-code'], [8, 'late-payment']] as const) {
      expect(report).toMatch(new RegExp(`line ${line}: 异常 ${reason}`));
    }
    expect(report).toContain('line 9: 已导入过，跳过');
    expect(report).toContain('line 10: 格式错误：缺少银行流水号');

    expect((await orders.getOrder(good.orderNo))!.state).toBe('PAID');
    expect((await orders.getOrder(other.orderNo))!.state).toBe('PENDING_PAYMENT');
    expect((await orders.getOrder(closed.orderNo))!.state).toBe('CLOSED');

    const again = io();
    expect(await importStatement(again, [file])).toEqual({ credited: 0, exceptions: 0, skipped: 8, rejected: 1 });
    const rows = await t.instance.deps.db.getRepository(StatementEntryEntity).find();
    expect(rows.filter((r) => r.bankSerial.startsWith(`S${run}`))).toHaveLength(7);
  });

  it('When statement fields carry escape sequences or bidi overrides, then the printed report carries none of them', async () => {
    const run = `${Date.now()}`;
    const file = csv([
      ['2026-11-25', '梅州\u001b]0;owned\u0007市\u202e某某公司\u001b[2K', '4400200', '工商银行', '1.00', `12\u001b[31m3456`, `E${run}\u001b[1A\u009b2J`],
      ['2026-11-25', '梅州市某某公司', '4400200', '工商银行', '1.00', `1\u202e23456`, `E${run}-2`],
    ]);
    const out = io();
    await importStatement(out, [file]);
    expect(out.lines.filter((l) => l.startsWith('line '))).toHaveLength(2);
    for (const line of out.lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(out.lines.join("\n")).toContain(`（流水号 E${run}）`);
  });

  it('When the same statement is imported twice at the same moment, then the order is credited once', async () => {
    const { orderNo, totalFen } = await orderFor('oStmtRace', '梅州市并发导入有限公司');
    const code = (await transfers.codeFor(orderNo, 'oStmtRace', new Date())).code;
    const line = { line: 2, date: '2026-11-25', payerName: '梅州市并发导入有限公司', payerAccount: '1', payerBank: '建设银行', amount: (totalFen / 100).toFixed(2), remark: code, bankSerial: `RACE${Date.now()}` };
    const results = await Promise.all([1, 2, 3].map(() => transfers.importLines([line], 'race.csv', new Date())));
    expect(results.flat().map((o) => o.result).sort()).toEqual(['credited', 'skipped', 'skipped']);
    expect((await orders.getOrder(orderNo))!.state).toBe('PAID');
    const entries = await t.instance.deps.db.getRepository(StatementEntryEntity).find({ where: { bankSerial: line.bankSerial } });
    expect(entries.map((e) => [e.decision, e.orderNo])).toEqual([['credited', orderNo]]);
  });

  it('When an import died after claiming a line, then a later import takes the line over and credits it once', async () => {
    const { orderNo, totalFen } = await orderFor('oStmtStale', '梅州市中断导入有限公司');
    const code = (await transfers.codeFor(orderNo, 'oStmtStale', new Date())).code;
    const line = { line: 2, date: '2026-11-25', payerName: '梅州市中断导入有限公司', payerAccount: '1', payerBank: '建设银行', amount: (totalFen / 100).toFixed(2), remark: code, bankSerial: `STALE${Date.now()}` };
    const repo = t.instance.deps.db.getRepository(StatementEntryEntity);
    const crashedAt = new Date(Date.now() - 10 * 60_000);
    await repo.insert({ bankSerial: line.bankSerial, lineDate: line.date, payerName: line.payerName, payerAccount: '1', payerBank: '建设银行', amountFen: totalFen, remark: code, decision: 'processing', reason: null, orderNo: null, source: 'crashed.csv:2', importedAt: crashedAt });

    const [outcome] = await transfers.importLines([line], 'again.csv', new Date());
    expect(outcome).toMatchObject({ result: 'credited', orderNo });
    expect((await repo.findOneByOrFail({ bankSerial: line.bankSerial })).decision).toBe('credited');
    expect((await transfers.importLines([line], 'third.csv', new Date()))[0].result).toBe('skipped');
  });

  it('When another import is still working on a line, then a second import skips it', async () => {
    const line = { line: 2, date: '2026-11-25', payerName: '梅州市某单位', payerAccount: '1', payerBank: '建设银行', amount: '1.00', remark: '000000', bankSerial: `BUSY${Date.now()}` };
    const repo = t.instance.deps.db.getRepository(StatementEntryEntity);
    await repo.insert({ bankSerial: line.bankSerial, lineDate: line.date, payerName: line.payerName, payerAccount: '1', payerBank: '建设银行', amountFen: 100, remark: '000000', decision: 'processing', reason: null, orderNo: null, source: 'busy.csv:2', importedAt: new Date() });
    expect((await transfers.importLines([line], 'second.csv', new Date()))[0].result).toBe('skipped');
  });

  it('When the sample statement in the repository is read, then its columns are understood', () => {
    const parsed = parseStatementCsv(readFileSync(join(__dirname, '../fixtures/statements/sample.csv')));
    expect(parsed.rejected).toEqual([]);
    expect(parsed.lines[0]).toMatchObject({ line: 2, payerName: '梅州市示范建设工程有限公司', amount: '400.00', remark: '381902', bankSerial: 'CCB20261125000001' });
  });
});

describe(`对公汇款 deadline (${backend})`, () => {
  it('When 对公汇款 is chosen, then the order waits 7 days for the transfer instead of the 2 hours of WeChat Pay', async () => {
    const { orderNo } = await orderFor('oTransferWait', '梅州市等待汇款有限公司');
    const at = new Date();
    await transfers.codeFor(orderNo, 'oTransferWait', at);
    const order = await orders.getOrder(orderNo);
    expect(order!.expiresAt.getTime()).toBe(at.getTime() + 7 * DAY);
  });
});
