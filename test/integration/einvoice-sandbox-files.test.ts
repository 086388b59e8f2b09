import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { splitTaxInclusive } from '../../src/modules/invoices/amounts';
import { DEFAULT_CJK_FONT, renderInvoicePdf, SANDBOX_WATERMARK, type SandboxInvoice } from '../../src/providers/einvoice/sandbox-pdf';
import { renderInvoiceXml } from '../../src/providers/einvoice/sandbox-xml';

/** The sandbox issuer's files, read back the way a person's tools read them: poppler's pdftotext/pdfinfo/pdffonts. */
const invoice: SandboxInvoice = {
  number: '25442000000123456789',
  issuedAt: new Date('2025-12-03T02:30:00Z'),
  acceptanceNo: 'SL20251203000001',
  clerk: '王开票',
  buyer: { kind: 'organisation', name: '深圳市腾讯计算机系统有限公司', taxId: '91440300708461136T', bankName: '招商银行深圳分行', bankAccount: '755901234567', email: 'a@b.cn' },
  seller: { name: '数安时代科技股份有限公司', taxId: '914401017889331470' },
  lines: [{ itemName: '*信息技术服务*数字证书服务费', taxClassificationCode: '3040201990000000000', specification: '机构证书', unit: '年', quantity: 1, taxRate: 600, totalFen: 20000, ...splitTaxInclusive(20000, 600) }],
};

let dir: string;
let pdfPath: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'invoice-pdf-'));
  pdfPath = join(dir, 'invoice.pdf');
  writeFileSync(pdfPath, await renderInvoicePdf(invoice));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
/** pdftotext output with layout whitespace removed: the watermark and columns interleave, the strings do not. */
const pdfText = () => run('pdftotext', '-raw', pdfPath, '-').replace(/\s+/g, '');

describe('sandbox invoice PDF', () => {
  it('When an invoice is rendered, then it is a one-page PDF titled with its number', () => {
    const info = run('pdfinfo', pdfPath);
    expect(info).toMatch(/^Pages:\s+1$/m);
    expect(info).toMatch(/^Title:\s+电子发票（普通发票）25442000000123456789$/m);
    expect(info).toMatch(/^Subject:\s+测试样票，非正式发票$/m);
  });

  it('When an invoice is rendered, then the CJK font is embedded as a subset (it reads on any phone)', () => {
    expect(run('pdffonts', pdfPath)).toMatch(/\+WenQuanYiMicroHei\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes/);
  });

  it.each([
    ['the 20-digit number', '发票号码：25442000000123456789'],
    ['the date', '开票日期：2025年12月03日'],
    ['the buyer', '深圳市腾讯计算机系统有限公司'],
    ['the buyer tax ID', '91440300708461136T'],
    ['the seller', '数安时代科技股份有限公司'],
    ['the seller tax ID', '914401017889331470'],
    ['the item', '*信息技术服务*数字证书服务费'],
    ['the rate', '6%'],
    ['the amount', '¥188.68'],
    ['the tax', '¥11.32'],
    ['the total in capitals', '贰佰元整'],
    ['the total in figures', '¥200.00'],
    ['the acceptance number', '受理单号：SL20251203000001'],
    ['the buyer bank in 备注', '招商银行深圳分行755901234567'],
    ['the clerk', '开票人：王开票'],
  ])('When the text is extracted, then it holds %s', (_what, text) => {
    expect(pdfText()).toContain(text);
  });

  it('When the text is extracted, then the watermark is there', () => {
    const text = pdfText();
    // Drawn rotated, so extraction may split it; every character of it is on the page four times.
    for (const ch of SANDBOX_WATERMARK) expect(text.split(ch).length - 1).toBeGreaterThanOrEqual(4);
  });

  it('When several invoices render at once (one shared font face), then each PDF holds its own number and no other', async () => {
    const numbers = ['25442000000000000001', '25442000000000000002', '25442000000000000003'];
    const pdfs = await Promise.all(numbers.map((number) => renderInvoicePdf({ ...invoice, number })));
    pdfs.forEach((pdf, i) => {
      const path = join(dir, `concurrent-${i}.pdf`);
      writeFileSync(path, pdf);
      const text = run('pdftotext', '-raw', path, '-').replace(/\s+/g, '');
      expect(text).toContain(`发票号码：${numbers[i]}`);
      numbers.filter((_, j) => j !== i).forEach((other) => expect(text).not.toContain(other));
    });
  });

  it('When the font file is missing, then rendering fails loudly instead of producing an unreadable PDF', async () => {
    await expect(renderInvoicePdf(invoice, { ...DEFAULT_CJK_FONT, path: join(dir, 'missing.ttc') })).rejects.toThrow();
  });
});

describe('sandbox invoice XML', () => {
  it('When the XML is rendered, then it parses and carries the number, parties, amounts and 大写', () => {
    const xml = renderInvoiceXml(invoice);
    const parsed = new XMLParser({ parseTagValue: false }).parse(xml) as { EInvoice: Record<string, Record<string, unknown>> };
    const { Header, EInvoiceData, TaxSupervisionInfo } = parsed.EInvoice;
    expect(Header!.EIid).toBe('25442000000123456789');
    expect(EInvoiceData).toMatchObject({
      SellerInformation: { SellerIdNum: '914401017889331470', SellerName: '数安时代科技股份有限公司' },
      BuyerInformation: { BuyerIdNum: '91440300708461136T', BuyerName: '深圳市腾讯计算机系统有限公司', NaturalPersonFlag: 'N' },
      BasicInformation: { TotalAmWithoutTax: '188.68', TotalTaxAm: '11.32', 'TotalTax-includedAmount': '200.00', 'TotalTax-includedAmountInChinese': '贰佰元整', Drawer: '王开票', RequestTime: '2025-12-03 10:30:00' },
      IssuItemInformation: { ItemName: '*信息技术服务*数字证书服务费', Quantity: '1', Amount: '188.68', TaxRate: '0.06', ComTaxAm: '11.32' },
    });
    expect(TaxSupervisionInfo!.InvoiceNumber).toBe('25442000000123456789');
  });

  it('When a name holds XML metacharacters, then they are escaped and the XML still parses to the same name', () => {
    const xml = renderInvoiceXml({ ...invoice, buyer: { ...invoice.buyer, name: 'A&B <有限> 公司' } });
    expect(xml).toContain('A&amp;B &lt;有限&gt; 公司');
    const parsed = new XMLParser({ parseTagValue: false }).parse(xml) as { EInvoice: { EInvoiceData: { BuyerInformation: { BuyerName: string } } } };
    expect(parsed.EInvoice.EInvoiceData.BuyerInformation.BuyerName).toBe('A&B <有限> 公司');
  });
});
