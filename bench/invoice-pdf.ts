/**
 * Sandbox invoice PDF render time: `npx tsx bench/invoice-pdf.ts [renders=50]`. Renders the same one-line invoice
 * N times after a warm-up of 5 (font parsing and the first subset are paid once per process), one at a time, and
 * prints p50/p99/max in ms and a JSON line. Target (issue 11): p50 and p99 under 100 ms.
 */
import { performance } from 'node:perf_hooks';
import { splitTaxInclusive } from '../src/modules/invoices/amounts';
import { renderInvoicePdf, type SandboxInvoice } from '../src/providers/einvoice/sandbox-pdf';
import { renderInvoiceXml } from '../src/providers/einvoice/sandbox-xml';

const renders = Number(process.argv[2] ?? 50);
const invoice = (i: number): SandboxInvoice => ({
  number: `25442000000${String(123456789 + i).padStart(9, '0')}`,
  issuedAt: new Date(),
  acceptanceNo: `SL2025120300${i}`,
  clerk: '王开票',
  buyer: { kind: 'organisation', name: '深圳市腾讯计算机系统有限公司', taxId: '91440300708461136T', bankName: '招商银行深圳分行', bankAccount: '755901234567', email: 'a@b.cn' },
  seller: { name: '数安时代科技股份有限公司', taxId: '914401017889331470' },
  lines: [{ itemName: '*信息技术服务*数字证书服务费', taxClassificationCode: '3040201990000000000', specification: '机构证书', unit: '年', quantity: 1, taxRate: 600, totalFen: 20000 + i, ...splitTaxInclusive(20000 + i, 600) }],
});

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

void (async () => {
  for (let i = 0; i < 5; i += 1) await renderInvoicePdf(invoice(i));
  const pdfMs: number[] = [];
  const xmlMs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < renders; i += 1) {
    const t0 = performance.now();
    const pdf = await renderInvoicePdf(invoice(i));
    const t1 = performance.now();
    renderInvoiceXml(invoice(i));
    xmlMs.push(performance.now() - t1);
    pdfMs.push(t1 - t0);
    bytes += pdf.length;
  }
  pdfMs.sort((a, b) => a - b);
  xmlMs.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  const result = { renders, pdf: { p50: r(quantile(pdfMs, 0.5)), p99: r(quantile(pdfMs, 0.99)), max: r(pdfMs.at(-1)!) }, xml: { p50: r(quantile(xmlMs, 0.5)), p99: r(quantile(xmlMs, 0.99)) }, avgPdfBytes: Math.round(bytes / renders) };
  console.log(`PDF  p50 ${result.pdf.p50} ms  p99 ${result.pdf.p99} ms  max ${result.pdf.max} ms  (${result.avgPdfBytes} bytes each)  target < 100 ms: ${result.pdf.p99 < 100 ? 'PASS' : 'MISS'}`);
  console.log(`XML  p50 ${result.xml.p50} ms  p99 ${result.xml.p99} ms`);
  console.log(JSON.stringify(result));
})();
