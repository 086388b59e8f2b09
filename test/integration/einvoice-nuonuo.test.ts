import { cryptoRandom } from '../../src/lib/clock';
import { splitTaxInclusive } from '../../src/modules/invoices/amounts';
import { NuonuoClient, type NuonuoOptions } from '../../src/providers/einvoice/nuonuo';
import { type EInvoiceSubmitRequest, EInvoiceUpstreamError } from '../../src/providers/einvoice/types';
import { type NuonuoDouble, startNuonuoDouble } from '../helpers/nuonuo-double';

/** The real Nuonuo client against a local double of the gateway that checks X-Nuonuo-Sign the vendor's way. */
const CREDS = { appKey: 'SD63236305', appSecret: 'SDDED2523BED4643', accessToken: 'token-abc', userTax: '91440300708461136T' };
/** Assumed 税收分类编码 for the tests only; the real one comes from the price rule (see the report). */
const CODE = '3040201990000000000';

let double: NuonuoDouble;
beforeAll(async () => {
  double = await startNuonuoDouble(CREDS);
});
afterAll(() => double.close());

function client(change: Partial<NuonuoOptions> = {}) {
  return new NuonuoClient({
    url: double.url,
    appKey: CREDS.appKey,
    appSecret: CREDS.appSecret,
    accessToken: async () => CREDS.accessToken,
    seller: { taxId: CREDS.userTax, name: '数安时代科技股份有限公司', phone: '020-12345678', address: '广州市天河区', bankAccount: '招商银行 1234567890' },
    clerk: '王开票',
    clock: { nowMs: () => Date.now() },
    random: cryptoRandom,
    ...change,
  });
}

let seq = 0;
function request(change: Partial<EInvoiceSubmitRequest> = {}): EInvoiceSubmitRequest {
  seq += 1;
  const split = splitTaxInclusive(20000, 600);
  return {
    acceptanceNo: `SL2025120300${seq}`,
    attemptKey: `SLA${Date.now().toString(36)}${seq}`.slice(0, 20),
    requestedAt: new Date('2025-12-03T02:30:00Z'),
    buyer: { kind: 'organisation', name: '深圳市腾讯计算机系统有限公司', taxId: '91440300708461136T', bankName: '招商银行深圳分行', bankAccount: '755901234567', address: '深圳市南山区', phone: '0755-86013388', email: 'finance@example.com', mobile: '13800138000' },
    lines: [{ itemName: '*信息技术服务*数字证书服务费', taxClassificationCode: CODE, specification: '机构证书', unit: '年', quantity: 1, taxRate: 600, totalFen: 20000, ...split }],
    ...change,
  };
}

async function pollUntilSettled(c: NuonuoClient, serial: string) {
  const seen: string[] = [];
  for (let i = 0; i < 10; i += 1) {
    const outcome = await c.query({ serial });
    seen.push(outcome.state);
    if (outcome.state !== 'in-progress') return { outcome, seen };
  }
  throw new Error(`never settled: ${seen.join(' ')}`);
}

describe('Nuonuo client against the gateway double', () => {
  it('When an invoice is submitted and polled, then it goes 20 → 21 → 2 and comes back with its 20-digit number, time, amounts and files', async () => {
    const c = client();
    const req = request();
    const submitted = await c.submit(req);
    expect(submitted).toEqual({ kind: 'accepted', serial: expect.stringMatching(/^\d{20}$/) });
    const serial = (submitted as { serial: string }).serial;
    const { outcome, seen } = await pollUntilSettled(c, serial);
    expect(seen).toEqual(['in-progress', 'in-progress', 'issued']);
    expect(outcome).toEqual({
      state: 'issued', serial, attemptKey: req.attemptKey, kind: 'digital', number: expect.stringMatching(/^\d{20}$/),
      issuedAt: new Date(1764748800000), totalFen: 20000, taxFen: 1132,
      files: { pdf: { url: expect.stringMatching(/\.pdf$/) }, ofd: { url: expect.stringMatching(/\.ofd$/) } },
    });
    expect(double.badSignatures).toBe(0);
  });

  it('When an invoice is submitted, then the order carries our fields the way Nuonuo names them', async () => {
    const req = request();
    await client().submit(req);
    const call = double.calls.filter((x) => x.method === 'nuonuo.OpeMplatform.requestBillingNew').at(-1)!;
    expect(call.headers.method).toBe('nuonuo.OpeMplatform.requestBillingNew');
    expect(call.headers.usertax).toBe(CREDS.userTax);
    expect(call.body.order).toEqual({
      orderNo: req.attemptKey, invoiceDate: '2025-12-03 10:30:00', invoiceType: '1', invoiceLine: 'pc',
      buyerName: '深圳市腾讯计算机系统有限公司', buyerTaxNum: '91440300708461136T', buyerTel: '0755-86013388', buyerAddress: '深圳市南山区',
      buyerAccount: '招商银行深圳分行 755901234567', email: 'finance@example.com', buyerPhone: '13800138000', naturalPersonFlag: '0', showBankAccountType: '2',
      salerTaxNum: CREDS.userTax, salerTel: '020-12345678', salerAddress: '广州市天河区', salerAccount: '招商银行 1234567890',
      clerk: '王开票', extensionNumber: '', pushMode: '-1', callBackUrl: '', remark: `受理单号 ${req.acceptanceNo}`,
      invoiceDetail: [{ goodsName: '数字证书服务费', goodsCode: CODE, specType: '机构证书', unit: '年', num: '1', withTaxFlag: '1', price: '200.00', taxRate: '0.06', taxExcludedAmount: '188.68', tax: '11.32', taxIncludedAmount: '200.00' }],
    });
  });

  it('When the buyer is an individual without bank details, then naturalPersonFlag is 1, no tax ID and no bank line in 备注', async () => {
    const req = request({ buyer: { kind: 'individual', name: '张三', email: 'zhang@example.com' } });
    await client({ providerDelivers: true }).submit(req);
    const order = double.calls.at(-1)!.body.order as Record<string, unknown>;
    expect(order).toMatchObject({ buyerName: '张三', buyerTaxNum: '', naturalPersonFlag: '1', showBankAccountType: '0', buyerAccount: '', pushMode: '0' });
  });

  it('When the same attempt is submitted again (a lost answer), then Nuonuo refuses E9106 and the client says already-submitted, then query by attempt key finds it', async () => {
    const c = client();
    const req = request();
    const first = await c.submit(req);
    expect(await c.submit(req)).toEqual({ kind: 'already-submitted' });
    const found = await c.query({ attemptKey: req.attemptKey });
    expect(found).toMatchObject({ state: 'in-progress', serial: (first as { serial: string }).serial, attemptKey: req.attemptKey });
  });

  it('When the bureau refuses the invoice (22), then query reports failed with the reason', async () => {
    const c = client();
    const req = request();
    double.script(req.attemptKey, ['20', '22']);
    const { serial } = (await c.submit(req)) as { serial: string };
    const { outcome } = await pollUntilSettled(c, serial);
    expect(outcome).toEqual({ state: 'failed', serial, attemptKey: req.attemptKey, reason: '购方税号在税局不存在' });
  });

  it('When the invoice is issued but sealing fails (24), then reInvoice retries it under the same serial and it is issued; a second reInvoice says already issued', async () => {
    const c = client();
    const req = request();
    double.script(req.attemptKey, ['20', '24']);
    const { serial } = (await c.submit(req)) as { serial: string };
    const { outcome } = await pollUntilSettled(c, serial);
    expect(outcome).toMatchObject({ state: 'sealing-failed', serial });
    expect(await c.reInvoice(serial)).toEqual({ kind: 'retrying' });
    const after = await pollUntilSettled(c, serial);
    expect(after.outcome).toMatchObject({ state: 'issued', serial, attemptKey: req.attemptKey });
    expect(await c.reInvoice(serial)).toEqual({ kind: 'already-issued' });
    expect(double.calls.filter((x) => x.method === 'nuonuo.OpeMplatform.requestBillingNew' && (x.body.order as { orderNo: string }).orderNo === req.attemptKey)).toHaveLength(1);
  });

  it('When an attempt was never received, then query by attempt key says not-found (E9500), so submitting it is safe', async () => {
    expect(await client().query({ attemptKey: 'SLNEVERSENT0001' })).toEqual({ state: 'not-found' });
  });

  it('When Nuonuo refuses the content, then submit reports refused with code and reason for operators', async () => {
    double.failNext('nuonuo.OpeMplatform.requestBillingNew', { code: 'E9012', describe: '购方名称不能为空' });
    expect(await client().submit(request())).toEqual({ kind: 'refused', code: 'E9012', reason: '购方名称不能为空' });
  });

  it('When the gateway answers 5xx, then the client throws an upstream error to retry the same attempt later', async () => {
    double.failNext('nuonuo.OpeMplatform.requestBillingNew', { httpStatus: 502 });
    await expect(client().submit(request())).rejects.toMatchObject({ name: 'EInvoiceUpstreamError', upstreamCode: 'http-502' });
  });

  it('When the app secret is wrong, then the double refuses the signature and the client throws upstream', async () => {
    const before = double.badSignatures;
    await expect(client({ appSecret: 'wrong-secret' }).submit(request())).rejects.toBeInstanceOf(EInvoiceUpstreamError);
    expect(double.badSignatures).toBe(before + 1);
  });

  it('When the access token is refused (070304), then the client throws upstream naming the credentials', async () => {
    await expect(client({ accessToken: async () => 'stale' }).query({ attemptKey: 'SLANY00001' })).rejects.toMatchObject({ upstreamCode: '070304' });
  });

  it('When the attempt key cannot be a Nuonuo order number, then nothing is sent', async () => {
    const before = double.calls.length;
    await expect(client().submit(request({ attemptKey: 'SL-2025-12-03-000001-X' }))).rejects.toThrow(RangeError);
    expect(double.calls.length).toBe(before);
  });

  it('When a red letter needs no buyer confirmation (01), then it is issuing and the red invoice serial is known', async () => {
    const c = client();
    const outcome = await c.requestRedLetter({ confirmId: 'RC0001', attemptKey: 'SLRED0001', blue: { kind: 'digital', number: '26332000000100001', issuedAt: new Date() }, buyer: { name: '张三', email: 'z@example.com' }, reason: 'service-stopped' });
    expect(outcome).toEqual({ kind: 'issuing', confirmId: 'RC0001', serial: 'RRC0001' });
    const save = double.calls.find((x) => x.method === 'nuonuo.OpeMplatform.saveInvoiceRedConfirm' && x.body.billId === 'RC0001')!;
    expect(save.body).toMatchObject({ blueInvoiceLine: 'pc', applySource: '0', blueElecInvoiceNumber: '26332000000100001', redReason: '3', autoInvoice: '1', orderNo: 'SLRED0001', sellerTaxNo: CREDS.userTax });
  });

  it('When a red letter needs the buyer (02), then it waits; when the buyer withdraws (08), then it is revoked; a resend reads the same form back', async () => {
    const c = client();
    double.scriptRed('RC0002', '02');
    const req = { confirmId: 'RC0002', attemptKey: 'SLRED0002', blue: { kind: 'digital' as const, number: '26332000000100002', issuedAt: new Date() }, buyer: { name: '某公司', taxId: '914403001922038216', email: 'a@b.cn' }, reason: 'issued-in-error' as const };
    expect(await c.requestRedLetter(req)).toEqual({ kind: 'awaiting-buyer', confirmId: 'RC0002' });
    expect(await c.requestRedLetter(req)).toEqual({ kind: 'awaiting-buyer', confirmId: 'RC0002' });
    expect(await c.queryRedConfirm('RC0002')).toEqual({ state: 'awaiting-buyer', confirmId: 'RC0002' });
    expect(await c.queryRedConfirm('RC-UNKNOWN')).toEqual({ state: 'not-found' });
  });

  it('When a confirmed form was not issued automatically, then issueRed sends fastInvoiceRed with the form number', async () => {
    const c = client();
    await c.requestRedLetter({ confirmId: 'RC0003', attemptKey: 'SLRED0003', blue: { kind: 'digital', number: '26332000000100003', issuedAt: new Date() }, buyer: { name: '张三', email: 'z@example.com' }, reason: 'sales-return' });
    expect(await c.issueRed({ confirmId: 'RC0003', attemptKey: 'SLRED0003B', blue: { kind: 'digital', number: '26332000000100003', issuedAt: new Date() } })).toEqual({ kind: 'accepted', serial: 'FSLRED0003B' });
    const fast = double.calls.filter((x) => x.method === 'nuonuo.OpeMplatform.fastInvoiceRed').at(-1)!;
    expect(fast.body).toMatchObject({ orderNo: 'SLRED0003B', elecInvoiceNumber: '26332000000100003', billNo: '4403RC0003', billUuid: 'uuid-RC0003', invoiceLine: 'pc' });
  });
});

describe('Nuonuo issuer status', () => {
  it('When an operator asks how the issuer stands, then the 开票员 login, 实人认证 and the 授信额度 are read from the gateway', async () => {
    expect(await client().issuerStatus()).toMatchObject({ clerk: '王开票', login: 'logged-in', identityCheck: 'valid', creditLeftFen: 9_980_000, creditTotalFen: 10_000_000 });
    double.issuer.loggedIn = false;
    double.issuer.certified = false;
    expect(await client().issuerStatus()).toMatchObject({ login: 'logged-out', identityCheck: 'required' });
    double.issuer.loggedIn = true;
    double.issuer.certified = true;
  });
});
