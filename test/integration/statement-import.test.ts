import { In } from 'typeorm';
import { NoticeOutbox, NoticeOutboxEntity } from '../../src/modules/notices/outbox';
import { OrderService } from '../../src/modules/orders/service';
import { StatementEntryEntity } from '../../src/modules/transfers/entities';
import { type StatementLine } from '../../src/modules/transfers/matcher';
import { type LineOutcome, TransferService } from '../../src/modules/transfers/service';
import { backend } from '../helpers/harness';
import { verifyHandler } from '../helpers/handlers';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The statement import in chunks (statement-import.ts): a chunk of lines per transaction, and still each line
 * decided once and each order credited once — across a stop between chunks, overlapping files, and repeats in a file.
 */
const DAY = 86_400_000;
let orders: OrderService;
let transfers: TransferService;
let seq = 0;

const t = useTestApp({ startJobs: false });
/** `failNext` makes the next add of that job fail, as a job queue that cannot be reached would (after the commit). */
const failNext = new Set<string>();
beforeAll(() => {
  orders = new OrderService(t.instance.deps);
  transfers = new TransferService(t.instance.deps);
  const jobs = t.instance.deps.jobs;
  const enqueue = jobs.enqueue.bind(jobs);
  jobs.enqueue = async (name, payload, opts) => {
    if (failNext.delete(name)) throw new Error(`job queue unreachable for ${name}`);
    return enqueue(name, payload, opts);
  };
});

interface Payable { orderNo: string; organization: string; totalFen: number; code: string }

async function payable(): Promise<Payable> {
  const n = ++seq;
  const openid = `oChunk${n}`;
  const organization = `梅州市分批导入单位${n}有限公司`;
  const now = Date.now();
  const cert = await boundCertificate(t.instance.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
  await verifyHandler(t.instance.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  const { code } = await transfers.codeFor(order.orderNo, openid, new Date());
  return { orderNo: order.orderNo, organization, totalFen: order.totalFen, code };
}

const run = `${Date.now()}`;
let lineNo = 1;
const paying = (o: Payable, serial: string, amountFen = o.totalFen): StatementLine => ({
  line: ++lineNo, date: '2026-12-01', payerName: o.organization, payerAccount: '4400100', payerBank: '建设银行', amount: (amountFen / 100).toFixed(2), remark: o.code, bankSerial: `${run}${serial}`,
});
const results = (outcomes: LineOutcome[]) => outcomes.map((o) => o.result);

async function entries(serials: string[]) {
  return t.instance.deps.db.getRepository(StatementEntryEntity).find({ where: { bankSerial: In(serials.map((s) => `${run}${s}`)) }, order: { id: 'ASC' } });
}

async function paidNotices(list: Payable[]) {
  return t.instance.deps.db.getRepository(NoticeOutboxEntity).count({ where: { noticeKey: In(list.map((o) => `paid-${o.orderNo}`)) } });
}

describe(`statement import in chunks (${backend})`, () => {
  it('When an import is stopped between chunks and the file is imported again, then the first chunks stay done, the rest is done once, and each order is credited once', async () => {
    const list = await Promise.all([1, 2, 3, 4, 5].map(() => payable()));
    const lines = [...list.map((o, i) => paying(o, `STOP${i}`)), paying(list[0], 'STOPX', list[0].totalFen + 100)];
    const stop = new AbortController();
    const progress: number[] = [];
    await expect(transfers.importLines(lines, 'stopped.csv', new Date(), { chunkLines: 2, signal: stop.signal, onProgress: (done) => { progress.push(done); stop.abort(new Error('operator stopped the import')); } }))
      .rejects.toThrow('operator stopped the import');
    expect(progress).toEqual([2]);
    expect((await entries(lines.map((_, i) => (i < 5 ? `STOP${i}` : 'STOPX')))).map((e) => e.decision)).toEqual(['credited', 'credited']);
    expect((await orders.getOrder(list[2].orderNo))!.state).toBe('PENDING_PAYMENT');

    const again: number[] = [];
    const outcomes = await transfers.importLines(lines, 'stopped.csv', new Date(), { chunkLines: 2, onProgress: (done) => again.push(done) });
    expect(again).toEqual([2, 4, 6]);
    expect(results(outcomes)).toEqual(['skipped', 'skipped', 'credited', 'credited', 'credited', 'exception']);
    // The sixth line's code was released when the first line paid its order (in the first run): a person looks at it.
    expect(outcomes[5]).toMatchObject({ reason: 'unknown-code' });
    for (const [i, o] of list.entries()) {
      expect(await orders.getOrder(o.orderNo)).toMatchObject({ state: 'PAID', transactionId: `BANK-${run}STOP${i}`, paidAmountFen: o.totalFen });
    }
    expect(await paidNotices(list)).toBe(5);
    expect(results(await transfers.importLines(lines, 'third.csv', new Date()))).toEqual(Array(6).fill('skipped'));
  });

  it('When two overlapping statements are imported at the same moment, then every shared line is claimed by one of them and each order is credited once', async () => {
    const list = await Promise.all([1, 2, 3, 4, 5, 6].map(() => payable()));
    const lines = list.map((o, i) => paying(o, `OVER${i}`));
    const [a, b] = await Promise.all([
      transfers.importLines(lines.slice(0, 4), 'monday.csv', new Date(), { chunkLines: 2 }),
      transfers.importLines(lines.slice(2).reverse(), 'tuesday.csv', new Date(), { chunkLines: 2 }),
    ]);
    const bySerial = new Map<string, string[]>();
    for (const o of [...a, ...b]) bySerial.set(o.bankSerial, [...(bySerial.get(o.bankSerial) ?? []), o.result]);
    // Lines 3 and 4 are in both files: credited by one import, skipped by the other.
    for (const [i, line] of lines.entries()) expect([i, (bySerial.get(line.bankSerial) ?? []).sort()]).toEqual([i, i === 2 || i === 3 ? ['credited', 'skipped'] : ['credited']]);
    for (const o of list) expect((await orders.getOrder(o.orderNo))!.state).toBe('PAID');
    expect((await entries(lines.map((_, i) => `OVER${i}`))).map((e) => e.decision)).toEqual(Array(6).fill('credited'));
    expect(await paidNotices(list)).toBe(6);

    // A later statement overlapping both: its new line is credited, the rest skipped.
    const extra = await payable();
    const later = await transfers.importLines([...lines.slice(1, 5), paying(extra, 'OVER6')], 'wednesday.csv', new Date());
    expect(results(later)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'credited']);
  });

  it('When the same line appears twice in one file, in one chunk or in two, then it is decided once and the repeat is reported skipped', async () => {
    const [o1, o2, o3] = await Promise.all([payable(), payable(), payable()]);
    const first = paying(o1, 'TWICE1');
    const second = paying(o2, 'TWICE2');
    const third = paying(o3, 'TWICE3', o3.totalFen - 1);
    const outcomes = await transfers.importLines([first, second, { ...first, line: 90 }, third, { ...third, line: 91 }, { ...second, line: 92 }], 'twice.csv', new Date(), { chunkLines: 3 });
    expect(outcomes.map((o) => [o.line, o.result])).toEqual([[first.line, 'credited'], [second.line, 'credited'], [90, 'skipped'], [third.line, 'exception'], [91, 'skipped'], [92, 'skipped']]);
    expect((await entries(['TWICE1', 'TWICE2', 'TWICE3'])).map((e) => [e.decision, e.reason])).toEqual([['credited', null], ['credited', null], ['exception', 'amount-mismatch']]);
    const rejected = await t.instance.deps.db.getRepository(NoticeOutboxEntity).count({ where: { noticeKey: `rej-${third.bankSerial}` } });
    expect(rejected).toBe(1);
  });

  it('When queueing a notice fails after its chunk committed, then the import fails without losing it: the notice stays owed and importing again finishes the rest once', async () => {
    const list = await Promise.all([1, 2, 3].map(() => payable()));
    const lines = list.map((o, i) => paying(o, `QUEUE${i}`));
    failNext.add('orders.paid-notice');
    await expect(transfers.importLines(lines, 'queue.csv', new Date(), { chunkLines: 1 })).rejects.toThrow('job queue unreachable');
    expect(await new NoticeOutbox(t.instance.deps).stateOf(`paid-${list[0].orderNo}`)).toBe('owed');
    expect((await orders.getOrder(list[0].orderNo))!.state).toBe('PAID');

    const again = await transfers.importLines(lines, 'queue.csv', new Date(), { chunkLines: 1 });
    // The failure surfaced once the next chunk had committed too (a chunk's notices are queued while the next one runs).
    expect(results(again)).toEqual(['skipped', 'skipped', 'credited']);
    expect((await entries(['QUEUE0', 'QUEUE1', 'QUEUE2'])).map((e) => e.decision)).toEqual(['credited', 'credited', 'credited']);
    for (const [i, o] of list.entries()) expect(await orders.getOrder(o.orderNo)).toMatchObject({ state: 'PAID', transactionId: `BANK-${run}QUEUE${i}` });
    expect(await paidNotices(list)).toBe(3);
  });

  it('When two lines of one chunk pay the same order, then the first credits it and the second is an exception for a person', async () => {
    const o = await payable();
    const outcomes = await transfers.importLines([paying(o, 'SAME1'), paying(o, 'SAME2')], 'same.csv', new Date());
    expect(outcomes.map((x) => [x.result, x.reason])).toEqual([['credited', undefined], ['exception', 'unknown-code']]);
    expect(await orders.getOrder(o.orderNo)).toMatchObject({ state: 'PAID', transactionId: `BANK-${run}SAME1` });
  });
});
