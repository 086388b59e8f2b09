import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { verifyNuonuoSign } from '../../src/providers/einvoice/nuonuo-sign';

/**
 * A stand-in for the Nuonuo open platform gateway on 127.0.0.1, speaking its protocol: POST /open/v1/services with
 * senid/nonce/timestamp/appkey in the query, the API in the `method` header, `X-Nuonuo-Sign` checked over the raw
 * body the vendor's way, `{code, describe, result}` answers. State per order number (the attempt key), with the
 * status sequence a test scripts (default 20 → 21 → 2: 开票中, 签章中, 开票完成).
 * The real gateway's answer to a bad signature is not documented where we could read it: the double answers 403.
 */
export interface RecordedCall {
  method: string;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

interface Order {
  serial: string;
  orderNo: string;
  order: Record<string, unknown>;
  statuses: string[];
  reInvoiced: number;
}

export interface NuonuoDouble {
  url: string;
  calls: RecordedCall[];
  badSignatures: number;
  /** Statuses the next query answers for this order number, one per query; the last one repeats. */
  script(orderNo: string, statuses: string[]): void;
  /** The 红字确认单 status the gateway reports for a billId (default '01' 无需确认). */
  scriptRed(billId: string, billStatus: string): void;
  /** The next call of this API answers this instead (once). */
  failNext(method: string, answer: { code: string; describe: string } | { httpStatus: number }): void;
  /** The 开票员's standing and the credit line the gateway reports. */
  issuer: { loggedIn: boolean; certified: boolean; creditLeft: string; creditTotal: string };
  close(): Promise<void>;
}

export async function startNuonuoDouble(creds: { appKey: string; appSecret: string; accessToken: string; userTax: string }): Promise<NuonuoDouble> {
  const orders = new Map<string, Order>();
  const scripts = new Map<string, string[]>();
  const red = new Map<string, { billStatus: string; request: Record<string, unknown> }>();
  const redScripts = new Map<string, string>();
  const failures = new Map<string, { code: string; describe: string } | { httpStatus: number }>();
  let serialSeq = 0;
  const state = { calls: [] as RecordedCall[], badSignatures: 0 };

  const invoiceRow = (o: Order) => {
    const status = o.statuses.length > 1 ? o.statuses.shift()! : o.statuses[0]!;
    const detail = (o.order.invoiceDetail as Record<string, string>[])[0]!;
    const row: Record<string, unknown> = { serialNo: o.serial, orderNo: o.orderNo, status, statusMsg: { 2: '开票完成（最终状态）', 20: '开票中', 21: '开票成功签章中', 22: '开票失败', 24: '开票成功签章失败' }[status] ?? '' };
    if (status === '22') row.failCause = '购方税号在税局不存在';
    if (status === '2') {
      Object.assign(row, {
        allElectronicInvoiceNumber: `2633200000${String(100000 + serialSeq).padStart(10, '0')}`,
        invoiceTime: 1764748800000,
        orderAmount: detail.taxIncludedAmount,
        taxAmount: detail.tax,
        exTaxAmount: detail.taxExcludedAmount,
        pdfUrl: `https://invtest.example/fp/${o.serial}.pdf`,
        ofdUrl: `https://invtest.example/fp/${o.serial}.ofd`,
      });
    }
    return row;
  };

  const issuer = { loggedIn: true, certified: true, creditLeft: '99800.00', creditTotal: '100000.00' };
  const handle = (method: string, body: Record<string, unknown>): { code: string; describe: string; result?: unknown } => {
    switch (method) {
      case 'nuonuo.OpeMplatform.requestBillingNew': {
        const order = body.order as Record<string, unknown>;
        const orderNo = String(order.orderNo);
        if (orders.has(orderNo)) return { code: 'E9106', describe: '订单编号或流水号不能重复' };
        serialSeq += 1;
        const serial = `2512031010${String(serialSeq).padStart(10, '0')}`;
        orders.set(orderNo, { serial, orderNo, order, statuses: [...(scripts.get(orderNo) ?? ['20', '21', '2'])], reInvoiced: 0 });
        return { code: 'E0000', describe: '开票提交成功', result: { invoiceSerialNum: serial } };
      }
      case 'nuonuo.OpeMplatform.queryInvoiceResult': {
        const serials = (body.serialNos as string[] | undefined) ?? [];
        const orderNos = (body.orderNos as string[] | undefined) ?? [];
        const found = [...orders.values()].filter((o) => serials.includes(o.serial) || orderNos.includes(o.orderNo));
        if (found.length === 0) return { code: 'E9500', describe: '发票不存在' };
        return { code: 'E0000', describe: '获取成功', result: found.map(invoiceRow) };
      }
      case 'nuonuo.OpeMplatform.reInvoice': {
        const o = [...orders.values()].find((x) => x.serial === body.fpqqlsh);
        if (!o) return { code: 'E9500', describe: '发票不存在' };
        if (o.statuses[0] === '2') return { code: 'E0000', describe: '发票已生成，无需再重试开票' };
        o.reInvoiced += 1;
        o.statuses = ['21', '2'];
        return { code: 'E0000', describe: '重试开票提交成功' };
      }
      case 'nuonuo.OpeMplatform.saveInvoiceRedConfirm': {
        const billId = String(body.billId);
        if (red.has(billId)) return { code: 'E9106', describe: '红字确认单申请号不能重复' };
        red.set(billId, { billStatus: redScripts.get(billId) ?? '01', request: body });
        return { code: 'E0000', describe: '成功', result: billId };
      }
      case 'nuonuo.OpeMplatform.queryInvoiceRedConfirm': {
        const form = red.get(String(body.billId));
        if (!form) return { code: 'E0000', describe: '成功', result: { total: 0, list: [] } };
        const issued = form.billStatus === '01' || form.billStatus === '04';
        return {
          code: 'E0000',
          describe: '成功',
          result: { total: 1, list: [{ billId: body.billId, billNo: `4403${body.billId}`, billUuid: `uuid-${body.billId}`, billStatus: form.billStatus, ...(issued ? { invoiceSerialNum: `R${body.billId}`, redInvoiceNumber: '26332000000999999999' } : {}) }] },
        };
      }
      // Field names as the client reads them (unconfirmed: docs/einvoice-nuonuo.md); the double mirrors them.
      case 'nuonuo.OpeMplatform.getCertificationStatus':
        return { code: 'E0000', describe: '成功', result: { loginStatus: issuer.loggedIn ? '1' : '0', certificationStatus: issuer.certified ? '1' : '0' } };
      case 'nuonuo.OpeMplatform.getCreditLine':
        return { code: 'E0000', describe: '成功', result: { surplusCreditLine: issuer.creditLeft, totalCreditLine: issuer.creditTotal } };
      case 'nuonuo.OpeMplatform.fastInvoiceRed':
        return { code: 'E0000', describe: '成功', result: { invoiceSerialNum: `F${String(body.orderNo)}` } };
      default:
        return { code: 'E9999', describe: `unknown method ${method}` };
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const q = (k: string) => url.searchParams.get(k) ?? '';
      const signature = String(req.headers['x-nuonuo-sign'] ?? '');
      const method = String(req.headers.method ?? '');
      const send = (status: number, answer: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8' });
        res.end(JSON.stringify(answer));
      };
      if (req.method !== 'POST' || url.pathname !== '/open/v1/services') return send(404, { code: 'E404', describe: 'not found' });
      const signed = { path: url.pathname, appKey: q('appkey'), appSecret: creds.appSecret, senid: q('senid'), nonce: q('nonce'), timestamp: q('timestamp'), body: raw };
      const wellFormed = q('appkey') === creds.appKey && /^[0-9a-f]{32}$/.test(q('senid')) && /^\d{8}$/.test(q('nonce')) && /^\d{10}$/.test(q('timestamp'));
      if (!wellFormed || !verifyNuonuoSign(signed, signature)) {
        state.badSignatures += 1;
        return send(403, { code: 'SIGN', describe: '签名验证失败' });
      }
      if (req.headers.accesstoken !== creds.accessToken) return send(200, { code: '070304', describe: 'accessToken无效' });
      if (req.headers.usertax !== creds.userTax) return send(200, { code: 'E9000', describe: '税号与授权不一致' });
      const body = JSON.parse(raw) as Record<string, unknown>;
      state.calls.push({ method, body, headers: req.headers });
      const failure = failures.get(method);
      if (failure) {
        failures.delete(method);
        if ('httpStatus' in failure) return send(failure.httpStatus, { code: 'E5000', describe: 'gateway error' });
        return send(200, failure);
      }
      return send(200, handle(method, body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/open/v1/services`,
    get calls() {
      return state.calls;
    },
    get badSignatures() {
      return state.badSignatures;
    },
    script: (orderNo, statuses) => scripts.set(orderNo, statuses),
    scriptRed: (billId, billStatus) => redScripts.set(billId, billStatus),
    failNext: (method, answer) => failures.set(method, answer),
    issuer,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
