import { fenToYuan, formatTradeBill, parseTradeBill, TradeBillFormatError, type TradeBillRow, yuanToFen } from '../../../src/providers/wechatpay/trade-bill';

/**
 * The trade bill file: WeChat Pay's own published sample (the 微信云托管 下载对账单 page shows an ALL bill of the
 * current column set) is read as WeChat Pay wrote it, and what the sandbox writes reads back the same.
 */
const OFFICIAL_SAMPLE = [
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注',
  '`2022-03-21 13:51:31,`wxfdc955f7104ad557,`180023671,`176531292,`,`420000612032130748613220688,`2021WERUN1647840687637,`oZWaCKXip5njeEiloC4oeOV1TTsk,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`微信云托管支付测试,`,`0.00000,`0.90%,`0.01,`0.00,`',
  '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额',
  '`1,`0.01,`0.00,`0.00,`0.00000,`0.01,`0.00',
].join('\r\n');

const row = (over: Partial<TradeBillRow>): TradeBillRow => ({
  tradeTime: '2026-12-02 10:00:00', appId: 'wx0000000000000001', mchId: '1900000001', transactionId: '4200000000202612020000000001', outTradeNo: 'R202612020000000000000001',
  openid: 'oUser', tradeType: 'JSAPI', tradeState: 'SUCCESS', orderFen: 20000, settlementFen: 20000, refundId: '', outRefundNo: '', refundFen: 0, refundStatus: '', description: '数字证书续期', attach: '',
  ...over,
});

describe('WeChat Pay trade bill file', () => {
  it('When WeChat Pay\'s published ALL sample is read, then every field comes out without its backtick and amounts are in fen', () => {
    const bill = parseTradeBill(OFFICIAL_SAMPLE);
    expect(bill.summary).toEqual({ count: 1, orderFen: 1, refundFen: 0 });
    expect(bill.rows).toEqual([expect.objectContaining({
      tradeTime: '2022-03-21 13:51:31', appId: 'wxfdc955f7104ad557', transactionId: '420000612032130748613220688', outTradeNo: '2021WERUN1647840687637',
      tradeState: 'SUCCESS', orderFen: 1, settlementFen: 1, refundFen: 0, outRefundNo: '', refundId: '', description: '微信云托管支付测试',
    })]);
  });

  it('When the sandbox writes payments and refunds, then they read back the same, a comma in a name included', () => {
    const rows = [
      row({}),
      row({ tradeTime: '2026-12-02 11:00:00', tradeState: 'REFUND', orderFen: 0, settlementFen: 0, refundId: '50000000000000000000000000001', outRefundNo: 'RFR2026', refundFen: 5000, refundStatus: 'SUCCESS', description: '证书续期,两年' }),
    ];
    const bill = parseTradeBill(formatTradeBill(rows));
    expect(bill.rows).toEqual(rows);
    expect(bill.summary).toEqual({ count: 2, orderFen: 20000, refundFen: 5000 });
  });

  it('When columns come in another order (older merchants, new columns), then they are found by name', () => {
    const text = ['商户订单号,交易状态,交易时间,微信订单号,总金额,新增字段', '`R1,`SUCCESS,`2026-12-02 10:00:00,`4200001,`12.5,`x', '总交易单数,总交易额', '`1,`12.50'].join('\n');
    expect(parseTradeBill(text).rows[0]).toMatchObject({ outTradeNo: 'R1', transactionId: '4200001', orderFen: 1250 });
  });

  it.each([
    ['no header', 'hello\n总交易单数\n`0'],
    ['a row with a missing field', OFFICIAL_SAMPLE.replace('`微信云托管支付测试,', '')],
    ['a summary that counts other rows', OFFICIAL_SAMPLE.replace('`1,`0.01', '`2,`0.01')],
    ['an amount that is not yuan', OFFICIAL_SAMPLE.replace('`0.01,`0.00,`0,`0', '`0.0x,`0.00,`0,`0')],
    ['no summary', OFFICIAL_SAMPLE.split('\r\n').slice(0, 2).join('\r\n')],
  ])('When the file has %s, then it is refused rather than half read', (_why, text) => {
    expect(() => parseTradeBill(text)).toThrow(TradeBillFormatError);
  });

  it('When amounts are converted, then no floating point is involved', () => {
    expect(yuanToFen('0.01')).toBe(1);
    expect(yuanToFen('12.3')).toBe(1230);
    expect(yuanToFen('1024')).toBe(102400);
    expect(yuanToFen('19.99')).toBe(1999);
    expect(() => yuanToFen('0.001')).toThrow(TradeBillFormatError);
    const wrong: number[] = [];
    for (let fen = 0; fen <= 100_000; fen++) if (yuanToFen(fenToYuan(fen)) !== fen) wrong.push(fen);
    expect(wrong).toEqual([]);
  });
});
