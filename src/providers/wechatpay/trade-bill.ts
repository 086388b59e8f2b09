/**
 * The WeChat Pay trade bill (交易账单, bill_type=ALL) as a file: what `GET /v3/bill/tradebill` points to. Format
 * (pay.weixin.qq.com 交易账单文件格式说明): comma-separated; a header line, one line per payment or refund, a summary
 * header and a summary line; every data and summary field starts with a backtick (so Excel keeps long numbers);
 * amounts in 元 with two decimals (fees with five). Columns are found by their header names, not their positions:
 * WeChat Pay says older merchants still get older column sets, and it may add columns.
 * A payment later refunded appears twice: its SUCCESS row on the day it was paid, and a REFUND row (交易状态 REFUND,
 * with 商户退款单号) on the day the refund was accepted.
 */

/** The ALL bill's detail header, as WeChat Pay writes it today. */
export const TRADE_BILL_COLUMNS = [
  '交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态', '付款银行',
  '货币种类', '应结订单金额', '代金券金额', '微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型', '退款状态', '商品名称',
  '商户数据包', '手续费', '费率', '订单金额', '申请退款金额', '费率备注',
] as const;
export const TRADE_BILL_SUMMARY_COLUMNS = ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'] as const;

export interface TradeBillRow {
  /** 交易时间 as written (Beijing time, yyyy-MM-dd HH:mm:ss): payment success, or refund accepted. */
  tradeTime: string;
  appId: string;
  mchId: string;
  transactionId: string;
  outTradeNo: string;
  openid: string;
  tradeType: string;
  /** SUCCESS (a payment), REFUND (a refund row), REVOKED. */
  tradeState: string;
  /** 订单金额 in fen (应结订单金额 when the bill has the old column set). */
  orderFen: number;
  /** 应结订单金额 in fen. */
  settlementFen: number;
  refundId: string;
  outRefundNo: string;
  /** 申请退款金额 in fen (退款金额 in the old column set); 0 on payment rows. */
  refundFen: number;
  refundStatus: string;
  description: string;
  attach: string;
}

export interface TradeBill {
  rows: TradeBillRow[];
  /** 总交易单数 and the totals in fen, as the bill states them (checked against the rows by parseTradeBill). */
  summary: { count: number; orderFen: number; refundFen: number };
}

export class TradeBillFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TradeBillFormatError';
  }
}

/** 元 with up to two decimals → fen, exactly (no floating point): '12.3' → 1230, '0.01' → 1. */
export function yuanToFen(text: string): number {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) throw new TradeBillFormatError(`not an amount in yuan: ${JSON.stringify(text.slice(0, 40))}`);
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -fen : fen;
}

export const fenToYuan = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`;

/** Splits one line; a field may be quoted ("…" with "" inside) when it holds a comma (商品名称, 商户数据包). */
function splitLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    let field = '';
    if (line[i] === '"' || (line[i] === '`' && line[i + 1] === '"')) {
      const tick = line[i] === '`' ? '`' : '';
      i += tick.length + 1;
      while (i < line.length && !(line[i] === '"' && line[i + 1] !== '"')) {
        field += line[i] === '"' ? '"' : line[i];
        i += line[i] === '"' ? 2 : 1;
      }
      i++;
      field = tick + field;
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end < 0 ? line.length : end);
      i += field.length;
    }
    out.push(field);
    i++; // the comma
  }
  return out;
}

const unTick = (f: string) => (f.startsWith('`') ? f.slice(1) : f).trim();

/**
 * Reads a trade bill. Throws TradeBillFormatError when the file is not one (no header, a row with another number
 * of fields, an unreadable amount, a summary that does not match the rows): a bill we cannot trust is never used.
 */
export function parseTradeBill(text: string): TradeBill {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = splitLine(lines[0] ?? '').map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  for (const required of ['交易时间', '微信订单号', '商户订单号', '交易状态']) {
    if (col(required) < 0) throw new TradeBillFormatError(`no ${required} column in the header`);
  }
  const summaryAt = lines.findIndex((l, i) => i > 0 && l.startsWith('总交易单数'));
  if (summaryAt < 0 || summaryAt + 1 >= lines.length) throw new TradeBillFormatError('no summary lines');
  const amountCol = (names: string[]) => names.map(col).find((i) => i >= 0) ?? -1;
  const orderCol = amountCol(['订单金额', '应结订单金额', '总金额']);
  const settlementCol = amountCol(['应结订单金额', '总金额']);
  const refundCol = amountCol(['申请退款金额', '退款金额']);
  const rows = lines.slice(1, summaryAt).map((line, n) => {
    const f = splitLine(line).map(unTick);
    if (f.length !== header.length) throw new TradeBillFormatError(`line ${n + 2}: ${f.length} fields, the header has ${header.length}`);
    const get = (name: string) => (col(name) >= 0 ? f[col(name)]! : '');
    const fen = (i: number) => (i >= 0 && f[i] !== '' ? yuanToFen(f[i]!) : 0);
    return {
      tradeTime: get('交易时间'), appId: get('公众账号ID'), mchId: get('商户号'), transactionId: get('微信订单号'), outTradeNo: get('商户订单号'),
      openid: get('用户标识'), tradeType: get('交易类型'), tradeState: get('交易状态'), orderFen: fen(orderCol), settlementFen: fen(settlementCol),
      refundId: get('微信退款单号') === '0' ? '' : get('微信退款单号'), outRefundNo: get('商户退款单号') === '0' ? '' : get('商户退款单号'),
      refundFen: fen(refundCol), refundStatus: get('退款状态'), description: get('商品名称'), attach: get('商户数据包'),
    };
  });
  const sumHeader = splitLine(lines[summaryAt]!).map((h) => h.trim());
  const sum = splitLine(lines[summaryAt + 1]!).map(unTick);
  const sumOf = (names: string[]) => {
    const i = names.map((n) => sumHeader.indexOf(n)).find((x) => x >= 0);
    return i === undefined || sum[i] === undefined || sum[i] === '' ? undefined : sum[i]!;
  };
  const countText = sumOf(['总交易单数']);
  if (!countText || !/^\d+$/.test(countText)) throw new TradeBillFormatError('summary: 总交易单数 unreadable');
  const summary = {
    count: Number(countText),
    orderFen: yuanToFen(sumOf(['订单总金额', '应结订单总金额', '总交易额']) ?? '0'),
    refundFen: yuanToFen(sumOf(['申请退款总金额', '退款总金额', '总退款金额']) ?? '0'),
  };
  if (summary.count !== rows.length) throw new TradeBillFormatError(`summary says ${summary.count} rows, the bill has ${rows.length}`);
  return { rows, summary };
}

/** Writes a bill the way WeChat Pay does (the sandbox serves these; tests build them). */
export function formatTradeBill(rows: TradeBillRow[]): string {
  const tick = (v: string) => `\`${v.includes(',') || v.includes('"') ? `"${v.replace(/"/g, '""')}"` : v}`;
  const isRefund = (r: TradeBillRow) => r.tradeState === 'REFUND';
  const lines = rows.map((r) => [
    r.tradeTime, r.appId, r.mchId, '0', '', r.transactionId, r.outTradeNo, r.openid, r.tradeType, r.tradeState, 'OTHERS', 'CNY',
    fenToYuan(isRefund(r) ? 0 : r.settlementFen), '0.00', isRefund(r) ? r.refundId : '0', isRefund(r) ? r.outRefundNo : '0',
    fenToYuan(r.refundFen), '0.00', isRefund(r) ? 'ORIGINAL' : '', isRefund(r) ? r.refundStatus : '', r.description, r.attach,
    '0.00000', '0.60%', fenToYuan(isRefund(r) ? 0 : r.orderFen), fenToYuan(r.refundFen), '',
  ].map(tick).join(','));
  const total = (pick: (r: TradeBillRow) => number) => rows.reduce((s, r) => s + pick(r), 0);
  const summary = [
    String(rows.length), fenToYuan(total((r) => (isRefund(r) ? 0 : r.settlementFen))), fenToYuan(total((r) => r.refundFen)), '0.00', '0.00000',
    fenToYuan(total((r) => (isRefund(r) ? 0 : r.orderFen))), fenToYuan(total((r) => r.refundFen)),
  ].map(tick).join(',');
  return `${[TRADE_BILL_COLUMNS.join(','), ...lines, TRADE_BILL_SUMMARY_COLUMNS.join(','), summary].join('\r\n')}\r\n`;
}
