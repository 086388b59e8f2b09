import { XMLBuilder } from 'fast-xml-parser';
import { fenToYuanString, rmbInCapitals, taxRateDecimal } from '../../modules/invoices/amounts';
import { invoiceTotals, SANDBOX_WATERMARK, type SandboxInvoice } from './sandbox-pdf';

/**
 * The sandbox issuer's invoice XML, shaped after the 数电票 XML the bureau hands out (EInvoice → Header /
 * EInvoiceData / TaxSupervisionInfo; element names as in published samples), so code that stores and serves the
 * XML has a realistic file to work with. It is marked as a test sample in its header, like the PDF.
 */
export function renderInvoiceXml(invoice: SandboxInvoice): string {
  const totals = invoiceTotals(invoice.lines);
  const issueTime = new Date(invoice.issuedAt.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
  const document = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    EInvoice: {
      Header: {
        EIid: invoice.number,
        EInvoiceTag: 'SWEI3200',
        Version: '0.1',
        InherentLabel: { GeneralOrSpecialVAT: { LabelCode: '02', LabelName: '普通发票' }, Sandbox: SANDBOX_WATERMARK },
      },
      EInvoiceData: {
        SellerInformation: { SellerIdNum: invoice.seller.taxId, SellerName: invoice.seller.name, SellerAddr: invoice.seller.address ?? '', SellerTelNum: invoice.seller.phone ?? '', SellerBankAndAccount: invoice.seller.bankAccount ?? '' },
        BuyerInformation: {
          BuyerIdNum: invoice.buyer.taxId ?? '',
          BuyerName: invoice.buyer.name,
          BuyerAddr: invoice.buyer.address ?? '',
          BuyerTelNum: invoice.buyer.phone ?? '',
          BuyerBankName: invoice.buyer.bankName ?? '',
          BuyerBankAccNum: invoice.buyer.bankAccount ?? '',
          NaturalPersonFlag: invoice.buyer.kind === 'individual' ? 'Y' : 'N',
        },
        BasicInformation: {
          TotalAmWithoutTax: fenToYuanString(totals.amountFen),
          TotalTaxAm: fenToYuanString(totals.taxFen),
          'TotalTax-includedAmount': fenToYuanString(totals.totalFen),
          'TotalTax-includedAmountInChinese': rmbInCapitals(totals.totalFen),
          Drawer: invoice.clerk,
          RequestTime: issueTime,
        },
        IssuItemInformation: invoice.lines.map((l) => ({
          ItemName: l.itemName,
          SpecMod: l.specification ?? '',
          MeaUnits: l.unit ?? '',
          Quantity: String(l.quantity),
          UnPrice: fenToYuanString(Math.round(l.amountFen / l.quantity)),
          Amount: fenToYuanString(l.amountFen),
          TaxRate: taxRateDecimal(l.taxRate),
          ComTaxAm: fenToYuanString(l.taxFen),
          TotaltaxIncludedAmount: fenToYuanString(l.totalFen),
          TaxClassificationCode: l.taxClassificationCode,
        })),
        AdditionalInformation: { Remark: [`受理单号：${invoice.acceptanceNo}`, invoice.remark ?? ''].filter(Boolean).join('；') },
      },
      TaxSupervisionInfo: { InvoiceNumber: invoice.number, IssueTime: issueTime, TaxBureauCode: '14400000000', TaxBureauName: '国家税务总局广东省税务局' },
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: false, processEntities: true });
  return builder.build(document) as string;
}
