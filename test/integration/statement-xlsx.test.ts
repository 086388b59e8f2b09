import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { importStatement } from '../../src/cli/import-statement';
import { OrderService } from '../../src/modules/orders/service';
import { TransferService } from '../../src/modules/transfers/service';
import { verifyHandler } from '../helpers/handlers';
import { backend } from '../helpers/harness';
import { boundCertificate } from '../helpers/pki-fixtures';
import { xlsxBytes } from '../helpers/xlsx';
import { useTestApp } from '../helpers/use-test-app';

/** 对公汇款 from an Excel statement: the import command reads .xlsx and credits orders on the real database. */
const DAY = 86_400_000;

const t = useTestApp({ startJobs: false });

function io(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { env: { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...t.handle.env }, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

describe(`对公汇款 from XLSX (${backend})`, () => {
  it('When an XLSX statement is imported, then the matching order is credited, a long numeric serial is refused, and a second import skips', async () => {
    const orders = new OrderService(t.instance.deps);
    const now = Date.now();
    await verifyHandler(t.instance.deps, 'oXlsx1');
    const cert = await boundCertificate(t.instance.deps, 'oXlsx1', { organization: '梅州市表格汇款有限公司', notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
    const order = await orders.createOrder({ openid: 'oXlsx1', items: [{ certificateId: cert.id, years: 2 }], at: new Date() });
    const code = (await new TransferService(t.instance.deps).codeFor(order.orderNo, 'oXlsx1', new Date())).code;
    const serial = `X${now}`;
    const file = join(mkdtempSync(join(tmpdir(), 'statement-')), 'statement.xlsx');
    writeFileSync(file, await xlsxBytes([
      ['交易日期', '付款人名称', '付款账号', '付款行', '金额', '附言', '流水号'],
      [{ value: new Date(Date.UTC(2026, 10, 25)), format: 'yyyy-mm-dd' }, '梅州市表格汇款有限公司', '4400100', '建设银行', { value: order.totalFen / 100, format: '#,##0.00' }, code, serial],
      ['2026-11-25', '梅州市另一单位有限公司', '4400200', '工商银行', 1, '000000', 12345678901234567890],
    ], '收款明细'));

    const first = io();
    expect(await importStatement(first, [file])).toEqual({ credited: 1, exceptions: 0, skipped: 0, rejected: 1 });
    expect(first.lines.join('\n')).toContain(`line 2: 入账 ${order.orderNo}（流水号 ${serial}）`);
    expect(first.lines.join('\n')).toMatch(/line 3: 格式错误：流水号在 Excel 中存成了数字/);
    expect((await orders.getOrder(order.orderNo))!.state).toBe('PAID');

    expect(await importStatement(io(), [file])).toEqual({ credited: 0, exceptions: 0, skipped: 1, rejected: 1 });
  });

  it('When a text file is named .xlsx, then the import stops with a clear message and touches nothing', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'statement-')), 'renamed.xlsx');
    writeFileSync(file, '交易日期,付款人名称,付款账号,付款行,金额,附言,流水号\n');
    await expect(importStatement(io(), [file])).rejects.toThrow('renamed.xlsx: 文件不是 Excel 工作簿（.xlsx）');
  });
});
