import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';
import { fenToYuanString, rmbInCapitals, taxRatePercent } from '../../modules/invoices/amounts';
import { type EInvoiceBuyer, type EInvoiceLine } from './types';

/**
 * The sandbox issuer's invoice file: a real PDF laid out like a 数电票 (电子发票（普通发票）, 241 × 140 mm), with the
 * CJK font embedded (subset) so it reads the same on any phone, and watermarked 测试样票，非正式发票 so nobody can
 * take it for a real invoice. The number, date, parties, line, 价税合计 (figures and 大写) and a QR code are the
 * parts a person checks; the layout is ours, not the bureau's template.
 */

/** Debian fonts-wqy-microhei (installed by .ci/run); a TTC, so the face is chosen by its PostScript name. */
export const DEFAULT_CJK_FONT = { path: '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc', face: 'WenQuanYiMicroHei' };
export const SANDBOX_WATERMARK = '测试样票，非正式发票';

export interface SandboxInvoice {
  /** 20-digit 数电票 number. */
  number: string;
  issuedAt: Date;
  acceptanceNo: string;
  buyer: EInvoiceBuyer;
  seller: { name: string; taxId: string; address?: string; phone?: string; bankAccount?: string };
  lines: EInvoiceLine[];
  /** 开票人. */
  clerk: string;
  remark?: string;
}

/**
 * The font is parsed once per path and the parsed face shared by every document: parsing the 5 MB TTC and warming
 * its layout caches is most of a render (measured: ~120 ms per invoice from the bytes vs ~16 ms shared, under load).
 * pdfkit accepts a parsed fontkit face in registerFont (PDFFontFactory.open: `typeof src.layout === 'function'`),
 * and each document still embeds its own subset. fontkit is taken from pdfkit's own dependency so it is the same
 * copy pdfkit uses. Rendering is synchronous up to doc.end(), so sharing the face between concurrent renders is safe.
 */
const pdfkitRequire = createRequire(require.resolve('pdfkit'));
const fontkit = pdfkitRequire('fontkit') as { create(bytes: Buffer, postscriptName?: string): { layout: unknown } };
const fontFaces = new Map<string, { layout: unknown }>();
function fontFace(font: { path: string; face: string }): Buffer {
  const key = `${font.path}#${font.face}`;
  let face = fontFaces.get(key);
  if (!face) {
    face = fontkit.create(readFileSync(font.path), font.face);
    if (typeof face?.layout !== 'function') throw new Error(`font ${font.face} not found in ${font.path}`);
    fontFaces.set(key, face);
  }
  return face as unknown as Buffer; // the typings only list file/bytes sources; see above
}

const MM = 72 / 25.4;
const PAGE = { width: 241 * MM, height: 140 * MM };
const INK = '#8b4513'; // the brown-red of the printed frame
const TEXT = '#000000';

/** 2025年12月03日, Beijing date. */
export function chineseDate(date: Date): string {
  const d = new Date(date.getTime() + 8 * 3600_000);
  return `${d.getUTCFullYear()}年${String(d.getUTCMonth() + 1).padStart(2, '0')}月${String(d.getUTCDate()).padStart(2, '0')}日`;
}

export function invoiceTotals(lines: EInvoiceLine[]): { amountFen: number; taxFen: number; totalFen: number } {
  return lines.reduce((t, l) => ({ amountFen: t.amountFen + l.amountFen, taxFen: t.taxFen + l.taxFen, totalFen: t.totalFen + l.totalFen }), { amountFen: 0, taxFen: 0, totalFen: 0 });
}

/** What the QR holds: the fields a verifier reads (type, number, amount, date), in the comma form invoice QRs use. */
export function invoiceQrText(invoice: SandboxInvoice): string {
  const { amountFen } = invoiceTotals(invoice.lines);
  const ymd = chineseDate(invoice.issuedAt).replace(/[年月日]/g, '');
  return `01,32,,${invoice.number},${fenToYuanString(amountFen)},${ymd},,SANDBOX`;
}

export async function renderInvoicePdf(invoice: SandboxInvoice, font = DEFAULT_CJK_FONT): Promise<Buffer> {
  const qr = await QRCode.toBuffer(invoiceQrText(invoice), { errorCorrectionLevel: 'M', margin: 0, width: 160 });
  const doc = new PDFDocument({
    size: [PAGE.width, PAGE.height],
    margin: 0,
    info: { Title: `电子发票（普通发票）${invoice.number}`, Author: invoice.seller.name, Subject: SANDBOX_WATERMARK, Creator: '数安 CA 管家 sandbox', CreationDate: invoice.issuedAt },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.registerFont('cjk', fontFace(font));
  doc.font('cjk');
  watermark(doc); // first, so the invoice's own text is drawn over it

  const left = 10 * MM;
  const right = PAGE.width - 10 * MM;
  const width = right - left;

  // Header: QR, title, number and date.
  doc.image(qr, left, 6 * MM, { width: 18 * MM });
  doc.fillColor(INK).fontSize(16).text('电子发票（普通发票）', left, 10 * MM, { width, align: 'center' });
  doc.moveTo(PAGE.width / 2 - 75, 18 * MM).lineTo(PAGE.width / 2 + 75, 18 * MM).lineWidth(0.6).strokeColor(INK).stroke();
  doc.fontSize(8).fillColor(INK).text('发票号码：', right - 62 * MM, 9 * MM, { continued: true }).fillColor(TEXT).text(invoice.number);
  doc.fillColor(INK).text('开票日期：', right - 62 * MM, 14 * MM, { continued: true }).fillColor(TEXT).text(chineseDate(invoice.issuedAt));

  // Parties.
  const top = 26 * MM;
  const partyHeight = 20 * MM;
  doc.rect(left, top, width, partyHeight).lineWidth(0.8).strokeColor(INK).stroke();
  doc.moveTo(left + width / 2, top).lineTo(left + width / 2, top + partyHeight).stroke();
  party(doc, '购买方信息', left, top, width / 2, [
    ['名称', invoice.buyer.name],
    ['统一社会信用代码/纳税人识别号', invoice.buyer.taxId ?? ''],
  ]);
  party(doc, '销售方信息', left + width / 2, top, width / 2, [
    ['名称', invoice.seller.name],
    ['统一社会信用代码/纳税人识别号', invoice.seller.taxId],
  ]);

  // Lines.
  const cols = [
    { title: '项目名称', w: 0.25, align: 'left' as const },
    { title: '规格型号', w: 0.11, align: 'center' as const },
    { title: '单位', w: 0.06, align: 'center' as const },
    { title: '数量', w: 0.07, align: 'right' as const },
    { title: '单价', w: 0.13, align: 'right' as const },
    { title: '金额', w: 0.13, align: 'right' as const },
    { title: '税率/征收率', w: 0.11, align: 'center' as const },
    { title: '税额', w: 0.14, align: 'right' as const },
  ];
  const tableTop = top + partyHeight;
  const tableHeight = 42 * MM;
  doc.rect(left, tableTop, width, tableHeight).stroke();
  const row = (y: number, cells: string[], color: string) => {
    let x = left;
    cols.forEach((c, i) => {
      doc.fillColor(color).fontSize(7.5).text(cells[i] ?? '', x + 3, y, { width: c.w * width - 6, align: c.align, lineBreak: false });
      x += c.w * width;
    });
  };
  row(tableTop + 3, cols.map((c) => c.title), INK);
  invoice.lines.forEach((l, i) => {
    const unit = l.quantity === 1 ? fenToYuanString(l.amountFen) : (l.amountFen / l.quantity / 100).toFixed(8).replace(/0+$/, '');
    row(tableTop + 12 + i * 11, [l.itemName, l.specification ?? '', l.unit ?? '', String(l.quantity), unit, fenToYuanString(l.amountFen), taxRatePercent(l.taxRate), fenToYuanString(l.taxFen)], TEXT);
  });
  const totals = invoiceTotals(invoice.lines);
  const sumY = tableTop + tableHeight - 10;
  doc.fillColor(INK).fontSize(8).text('合　　计', left + 3, sumY, { lineBreak: false });
  const amountX = left + (0.25 + 0.11 + 0.06 + 0.07 + 0.13) * width;
  doc.fillColor(TEXT).text(`¥${fenToYuanString(totals.amountFen)}`, amountX, sumY, { width: 0.13 * width - 6, align: 'right', lineBreak: false });
  doc.text(`¥${fenToYuanString(totals.taxFen)}`, right - 0.14 * width + 3, sumY, { width: 0.14 * width - 6, align: 'right', lineBreak: false });

  // 价税合计.
  const totalTop = tableTop + tableHeight;
  doc.rect(left, totalTop, width, 9 * MM).stroke();
  doc.fillColor(INK).fontSize(8.5).text('价税合计（大写）', left + 3, totalTop + 9, { continued: true }).fillColor(TEXT).text(`　ⓧ ${rmbInCapitals(totals.totalFen)}`);
  doc.fillColor(INK).text('（小写）', right - 55 * MM, totalTop + 9, { continued: true }).fillColor(TEXT).text(`¥${fenToYuanString(totals.totalFen)}`);

  // 备注.
  const remarkTop = totalTop + 9 * MM;
  doc.rect(left, remarkTop, width, 16 * MM).stroke();
  const bank = [invoice.buyer.bankName, invoice.buyer.bankAccount].filter(Boolean).join(' ');
  const remark = [`受理单号：${invoice.acceptanceNo}`, bank ? `购方开户银行：${bank}` : '', invoice.remark ?? ''].filter(Boolean).join('；');
  doc.fillColor(INK).fontSize(8).text('备注', left + 3, remarkTop + 4, { lineBreak: false });
  doc.fillColor(TEXT).fontSize(7.5).text(remark, left + 14 * MM, remarkTop + 4, { width: width - 16 * MM });
  doc.fillColor(INK).fontSize(8).text('开票人：', left + 3, remarkTop + 16 * MM + 4, { continued: true }).fillColor(TEXT).text(invoice.clerk);

  doc.end();
  return done;
}

function party(doc: PDFKit.PDFDocument, title: string, x: number, y: number, w: number, fields: [string, string][]) {
  doc.fillColor(INK).fontSize(8);
  // The vertical label on the left edge, one character per line, as printed invoices do.
  const chars = [...title];
  const step = (20 * MM - 8) / chars.length;
  chars.forEach((ch, i) => doc.fontSize(7).text(ch, x + 3, y + 3 + i * step, { lineBreak: false }));
  fields.forEach(([label, value], i) => {
    doc.fillColor(INK).fontSize(7.5).text(`${label}：`, x + 18, y + 10 + i * 20, { continued: true }).fillColor(TEXT).text(value, { width: w - 30 });
  });
}

/** Diagonal, light and repeated: visible on any crop or screenshot of the page, yet the text stays readable. */
function watermark(doc: PDFKit.PDFDocument) {
  doc.save();
  doc.fillColor('#d00000').fillOpacity(0.16).fontSize(26);
  for (const [x, y] of [[40, 260], [350, 260], [120, 130], [420, 130]] as const) {
    doc.save().rotate(-24, { origin: [x, y] }).text(SANDBOX_WATERMARK, x, y, { lineBreak: false }).restore();
  }
  doc.restore();
}
