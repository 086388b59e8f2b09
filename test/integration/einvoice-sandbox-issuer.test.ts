import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cryptoRandom } from '../../src/lib/clock';
import { splitTaxInclusive } from '../../src/modules/invoices/amounts';
import { SandboxIssuer, type SandboxIssuerOptions } from '../../src/providers/einvoice/sandbox';
import { type EInvoiceSubmitRequest } from '../../src/providers/einvoice/types';

/** The sandbox issuer behaves like the real provider: asynchronous, idempotent per attempt key, real files. */
let now = Date.parse('2025-12-03T02:30:00Z');
const clock = { nowMs: () => now };
const issuer = (change: Partial<SandboxIssuerOptions> = {}) =>
  new SandboxIssuer({ seller: { name: '数安时代科技股份有限公司', taxId: '914401017889331470' }, clerk: '王开票', clock, random: cryptoRandom, delayMs: 3000, ...change });

let seq = 0;
function request(buyerName = '深圳市腾讯计算机系统有限公司', change: Partial<EInvoiceSubmitRequest> = {}): EInvoiceSubmitRequest {
  seq += 1;
  return {
    acceptanceNo: `SL2025120300${seq}`,
    attemptKey: `SLA${String(seq).padStart(8, '0')}`,
    requestedAt: new Date(now),
    buyer: { kind: 'organisation', name: buyerName, taxId: '91440300708461136T', email: 'a@b.cn' },
    lines: [{ itemName: '*信息技术服务*数字证书服务费', taxClassificationCode: '3040201990000000000', quantity: 1, taxRate: 600, totalFen: 20000, ...splitTaxInclusive(20000, 600) }],
    ...change,
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sandbox-issuer-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sandbox issuer', () => {
  it('When an invoice is submitted, then it is 开票中 until the delay has passed, then issued with a 20-digit number and a PDF holding it', async () => {
    const s = issuer();
    const req = request();
    const submitted = await s.submit(req);
    expect(submitted).toMatchObject({ kind: 'accepted' });
    const { serial } = submitted as { serial: string };
    expect(await s.query({ serial })).toEqual({ state: 'in-progress', serial, attemptKey: req.attemptKey });
    now += 3000;
    const issued = await s.query({ attemptKey: req.attemptKey });
    expect(issued).toMatchObject({ state: 'issued', serial, kind: 'digital', number: expect.stringMatching(/^\d{20}$/), totalFen: 20000, taxFen: 1132, issuedAt: new Date(now) });
    if (issued.state !== 'issued' || !('bytes' in issued.files.pdf!)) throw new Error('expected PDF bytes');
    const path = join(dir, 'issued.pdf');
    writeFileSync(path, issued.files.pdf.bytes);
    const text = execFileSync('pdftotext', ['-raw', path, '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
    expect(text).toContain(`发票号码：${issued.number}`);
    expect(text).toContain('91440300708461136T');
    expect(issued.files.xml).toMatchObject({ contentType: 'application/xml' });
    // Asked again, the same invoice and the same files: nothing is issued twice.
    expect(await s.query({ serial })).toEqual(issued);
  });

  it('When the same attempt is submitted twice, then the second answer is already-submitted', async () => {
    const s = issuer();
    const req = request();
    await s.submit(req);
    expect(await s.submit(req)).toEqual({ kind: 'already-submitted' });
  });

  it('When the title asks for a failure, then the attempt fails after the delay with a reason', async () => {
    const s = issuer();
    const { serial } = (await s.submit(request('开票失败测试公司'))) as { serial: string };
    now += 3000;
    expect(await s.query({ serial })).toMatchObject({ state: 'failed', reason: expect.stringContaining('开票失败') });
  });

  it('When sealing fails, then reInvoice under the same serial issues it after another delay', async () => {
    const s = issuer();
    const { serial } = (await s.submit(request('签章失败测试公司'))) as { serial: string };
    now += 3000;
    expect(await s.query({ serial })).toMatchObject({ state: 'sealing-failed' });
    expect(await s.reInvoice(serial)).toEqual({ kind: 'retrying' });
    expect(await s.query({ serial })).toMatchObject({ state: 'in-progress' });
    now += 3000;
    expect(await s.query({ serial })).toMatchObject({ state: 'issued', serial });
    expect(await s.reInvoice(serial)).toEqual({ kind: 'already-issued' });
  });

  it('When the failure rate is 1, then every attempt fails; at 0 none does', async () => {
    const failing = issuer({ failureRate: 1 });
    const ok = issuer({ failureRate: 0 });
    const a = (await failing.submit(request())) as { serial: string };
    const b = (await ok.submit(request())) as { serial: string };
    now += 3000;
    expect(await failing.query(a)).toMatchObject({ state: 'failed' });
    expect(await ok.query(b)).toMatchObject({ state: 'issued' });
  });

  it('When an organisation has no tax ID, or a line does not add up, then the attempt is refused at once', async () => {
    const s = issuer();
    expect(await s.submit(request('某公司', { buyer: { kind: 'organisation', name: '某公司', email: 'a@b.cn' } }))).toMatchObject({ kind: 'refused', code: 'SANDBOX-TAXID' });
    const bad = request();
    bad.lines[0]!.taxFen += 1;
    expect(await s.submit(bad)).toMatchObject({ kind: 'refused', code: 'SANDBOX-LINES' });
  });

  it('When an unknown attempt is queried, then it is not-found', async () => {
    expect(await issuer().query({ attemptKey: 'SLNOTHING01' })).toEqual({ state: 'not-found' });
  });

  it('When an issued invoice is red-lettered without buyer confirmation, then a red invoice with negative amounts is issued', async () => {
    const s = issuer();
    const req = request();
    await s.submit(req);
    now += 3000;
    const blue = await s.query({ attemptKey: req.attemptKey });
    if (blue.state !== 'issued') throw new Error('expected issued');
    const outcome = await s.requestRedLetter({ confirmId: 'RC1', attemptKey: 'SLRED00001', blue: { kind: 'digital', number: blue.number, issuedAt: blue.issuedAt }, buyer: req.buyer, reason: 'service-stopped' });
    expect(outcome).toMatchObject({ kind: 'issuing', confirmId: 'RC1', serial: expect.any(String) });
    now += 3000;
    expect(await s.query({ attemptKey: 'SLRED00001' })).toMatchObject({ state: 'issued', totalFen: -20000, taxFen: -1132 });
    expect(await s.queryRedConfirm('RC1')).toMatchObject({ state: 'confirmed', redNumber: expect.stringMatching(/^\d{20}$/) });
    // The same confirm id again is the same form, not a second red invoice.
    expect(await s.requestRedLetter({ confirmId: 'RC1', attemptKey: 'SLRED00002', blue: { kind: 'digital', number: blue.number, issuedAt: blue.issuedAt }, buyer: req.buyer, reason: 'service-stopped' })).toMatchObject({ kind: 'issuing', confirmId: 'RC1' });
    expect(await s.query({ attemptKey: 'SLRED00002' })).toEqual({ state: 'not-found' });
  });

  it('When the red letter needs the buyer, then it waits; when the buyer refuses, then it is revoked and no red invoice exists', async () => {
    const s = issuer();
    const req = request('待确认测试公司');
    await s.submit(req);
    now += 3000;
    const blue = await s.query({ attemptKey: req.attemptKey });
    if (blue.state !== 'issued') throw new Error('expected issued');
    const red = { confirmId: 'RC2', attemptKey: 'SLRED00003', blue: { kind: 'digital' as const, number: blue.number, issuedAt: blue.issuedAt }, buyer: req.buyer, reason: 'issued-in-error' as const };
    expect(await s.requestRedLetter(red)).toEqual({ kind: 'awaiting-buyer', confirmId: 'RC2' });
    expect(s.confirmRed('RC2', false)).toBe('revoked');
    expect(await s.queryRedConfirm('RC2')).toMatchObject({ state: 'revoked' });
    expect(await s.query({ attemptKey: 'SLRED00003' })).toEqual({ state: 'not-found' });
  });

  it('When the buyer confirms a waiting red letter, then the red invoice is issued', async () => {
    const s = issuer();
    const req = request('待确认测试公司');
    await s.submit(req);
    now += 3000;
    const blue = await s.query({ attemptKey: req.attemptKey });
    if (blue.state !== 'issued') throw new Error('expected issued');
    await s.requestRedLetter({ confirmId: 'RC3', attemptKey: 'SLRED00004', blue: { kind: 'digital', number: blue.number, issuedAt: blue.issuedAt }, buyer: req.buyer, reason: 'issued-in-error' });
    expect(s.confirmRed('RC3', true)).toBe('confirmed');
    now += 3000;
    expect(await s.query({ attemptKey: 'SLRED00004' })).toMatchObject({ state: 'issued', totalFen: -20000 });
  });
});
