import { createConnection, type Connection } from 'mysql2/promise';
import { ORDER_NO_ALPHABET } from '../src/modules/orders/order-number';

/**
 * Bench data for the console's order search and dashboard (issue 12): `orders` orders over three years (more of them
 * recently, as a growing service has), one line each (8% two), on certificates of ~0.8 × orders/4 organisations named as
 * Guangdong organisations are (city + words + kind: 梅州市 the most common), their USCCs, the followers' openids, the
 * states an order ends in by its age, WeChat Pay or 对公汇款, renewals INSTALLED for fulfilled orders, refunds of
 * refunded orders plus a few exceptions, statement lines (some exceptions), invoice requests (some failed).
 * Written with multi-row INSERTs of BATCH rows (one statement and one commit per batch) from a seeded PRNG, so two
 * runs load the same data. Returns samples of the keys the searches look for.
 */
const BATCH = 4000;
const DAY = 86_400_000;
const CITIES: Array<[string, number]> = [['梅州市', 30], ['兴宁市', 8], ['平远县', 4], ['蕉岭县', 4], ['大埔县', 5], ['丰顺县', 5], ['五华县', 6], ['梅县区', 6], ['梅江区', 6],
  ['广州市', 8], ['深圳市', 6], ['汕头市', 3], ['潮州市', 3], ['河源市', 3], ['揭阳市', 3]];
const WORDS = '嘉应 客都 华侨 金山 东山 江南 长沙 城北 三角 水车 白渡 石扇 丙村 雁洋 松口 南口 畲江 程江 扶大 西阳 城东 新城 龙岗 宝安 天河 越秀 海珠 番禺 恒通 宏达 鸿运 富源 永盛 兴业 汇丰 万家 盛世 安达 信诚 泰和 德隆 百顺 华南 粤东 客家 围龙 金柚 茶香 梅花 青山 绿水 明珠 博雅 卓越 通达 顺昌 瑞丰 嘉禾 润泽 锦绣'.split(' ');
const KINDS = ['建筑工程有限公司', '贸易有限公司', '会计师事务所', '房地产开发有限公司', '物业管理有限公司', '科技有限公司', '实业有限公司', '劳务有限公司', '住房公积金管理中心', '中学', '人民医院', '律师事务所'];
const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';

export interface LoadedSamples { orderNos: string[]; usccs: string[]; openids: string[]; organisations: string[] }
export interface LoadResult { orders: number; lines: number; certificates: number; renewals: number; ms: number; samples: LoadedSamples }

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sqlTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const chinaYmd = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '');

async function insertBatches(conn: Connection, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    await conn.query(`INSERT INTO \`${table}\` (${columns.map((c) => `\`${c}\``).join(',')}) VALUES ?`, [rows.slice(i, i + BATCH)]);
  }
}

export async function loadOrderData(databaseUrl: string, opts: { orders: number; nowMs: number; seed?: number; log?: (line: string) => void }): Promise<LoadResult> {
  const started = Date.now();
  const rand = prng(opts.seed ?? 12);
  const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)]!;
  const token = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
  const cityTotal = CITIES.reduce((s, [, w]) => s + w, 0);
  const city = () => {
    let r = rand() * cityTotal;
    for (const [name, w] of CITIES) if ((r -= w) < 0) return name;
    return CITIES[0]![0];
  };
  const log = opts.log ?? (() => undefined);
  const conn = await createConnection({ uri: databaseUrl, multipleStatements: false });
  try {
    const now = opts.nowMs;
    const orgCount = Math.max(100, Math.round(opts.orders / 5));
    const orgs = Array.from({ length: orgCount }, () => ({ name: `${city()}${pick(WORDS)}${pick(WORDS)}${pick(KINDS)}`, uscc: `9144${token(14, USCC_ALPHABET)}` }));
    const certCount = Math.round(orgCount * 1.25);
    const certRows: unknown[][] = [];
    const certOrg: number[] = [];
    for (let i = 0; i < certCount; i++) {
      const org = i < orgCount ? i : Math.floor(rand() * orgCount);
      certOrg.push(org);
      const fp = `${i.toString(16).padStart(12, '0')}${token(52, '0123456789abcdef')}`;
      const notAfter = now - 365 * DAY + rand() * 1095 * DAY;
      certRows.push([fp, fp.slice(0, 20).toUpperCase(), 'CN=GDCA TrustAUTH R5 CA', `CN=${orgs[org]!.name},O=${orgs[org]!.name}`, orgs[org]!.name, orgs[org]!.uscc, orgs[org]!.name,
        'RSA-2048', 'sign', `9000${String(i).padStart(12, '0')}`, '梅州市住房公积金', '机构证书', sqlTime(notAfter - 365 * DAY), sqlTime(notAfter),
        rand() < 0.03 ? 'revoked' : 'valid', null, null, null, '-', 0, sqlTime(now - 1100 * DAY), sqlTime(now - 1100 * DAY)]);
    }
    await insertBatches(conn, 'certificates', ['fingerprint_sha256', 'serial_hex', 'issuer_dn', 'subject_dn', 'organization', 'credit_code', 'common_name', 'algorithm', 'usage',
      'media_serial', 'project', 'cert_type', 'not_before', 'not_after', 'status', 'revoked_at', 'superseded_by_id', 'pair_certificate_id', 'pem', 'sandbox', 'created_at', 'updated_at'], certRows);
    certRows.length = 0;
    log(`certificates: ${certCount} (${orgCount} organisations) in ${Date.now() - started} ms`);
    const [[{ first: firstCertId }]] = await conn.query('SELECT MIN(id) AS first FROM certificates') as unknown as [[{ first: number }]];

    const openidOf = (org: number) => `o${Buffer.from(`${org}-follower-${org * 7919}`).toString('base64url').slice(0, 27).padEnd(27, 'x')}`;
    const orderCols = ['order_no', 'openid', 'state', 'total_fen', 'currency', 'years', 'payment_method', 'expires_at', 'paid_at', 'paid_amount_fen', 'transaction_id',
      'closed_at', 'close_reason', 'fulfilled_at', 'refunding_at', 'refunded_at', 'sandbox', 'created_at', 'updated_at'];
    const samples: LoadedSamples = { orderNos: [], usccs: [], openids: [], organisations: [] };
    let orderId = 0;
    let lines = 0;
    let renewals = 0;
    const chunk = 50_000;
    const refundRows: unknown[][] = [];
    const statementRows: unknown[][] = [];
    const invoiceRows: unknown[][] = [];
    for (let base = 0; base < opts.orders; base += chunk) {
      const orders: unknown[][] = [];
      const lineRows: unknown[][] = [];
      const renewalRows: unknown[][] = [];
      const keyRows: unknown[][] = [];
      for (let k = 0; k < Math.min(chunk, opts.orders - base); k++) {
        const ageMs = 1095 * DAY * (1 - Math.sqrt(rand()));
        const created = Math.floor(now - ageMs);
        const cert = Math.floor(rand() * certCount);
        const org = certOrg[cert]!;
        const years = rand() < 0.7 ? 1 : rand() < 0.7 ? 2 : 3;
        const total = 20000 * years;
        const transfer = rand() < 0.15;
        const r = rand();
        const state = ageMs < DAY ? (r < 0.4 ? 'PENDING_PAYMENT' : r < 0.8 ? 'PAID' : 'CLOSED')
          : r < 0.62 ? 'FULFILLED' : r < 0.87 ? 'CLOSED' : r < 0.95 ? 'PAID' : r < 0.98 ? 'REFUNDED' : r < 0.982 ? 'REFUNDING' : 'CLOSED';
        const paid = state !== 'PENDING_PAYMENT' && state !== 'CLOSED';
        const paidAt = paid ? Math.min(now, created + (transfer ? (1 + rand() * 2) * DAY : rand() * 600_000)) : null;
        const orderNo = `R${chinaYmd(created)}${token(16, ORDER_NO_ALPHABET)}`;
        const id = ++orderId;
        const fulfilled = state === 'FULFILLED' ? Math.min(now, paidAt! + rand() * 10 * DAY) : null;
        const refunded = state === 'REFUNDED' ? Math.min(now, paidAt! + 3 * DAY) : null;
        orders.push([orderNo, openidOf(org), state, total, 'CNY', years, transfer ? 'transfer' : 'wechatpay', sqlTime(created + (transfer ? 7 : 1) * DAY),
          paidAt === null ? null : sqlTime(paidAt), paid ? total : null, paid ? (transfer ? `BANK-${id}` : `4200${String(id).padStart(24, '0')}`) : null,
          state === 'CLOSED' ? sqlTime(created + DAY) : null, state === 'CLOSED' ? 'expired' : null, fulfilled === null ? null : sqlTime(fulfilled),
          refunded === null && state !== 'REFUNDING' ? null : sqlTime(paidAt! + DAY), refunded === null ? null : sqlTime(refunded), 0, sqlTime(created), sqlTime(created)]);
        lineRows.push([id, firstCertId + cert, years, 20000, total, 1, null]);
        keyRows.push([id, sqlTime(created), orgs[org]!.name, orgs[org]!.uscc]);
        lines++;
        const firstLineId = lines; // a fresh schema: line ids count from 1 in insertion order
        if (rand() < 0.08) {
          const second = Math.floor(rand() * certCount);
          lineRows.push([id, firstCertId + second, years, 20000, total, 1, null]);
          if (certOrg[second] !== org) keyRows.push([id, sqlTime(created), orgs[certOrg[second]!]!.name, orgs[certOrg[second]!]!.uscc]);
          lines++;
        }
        if (fulfilled !== null) {
          renewals++;
          renewalRows.push([firstLineId, id, orderNo, firstCertId + cert, openidOf(org), years, 'RSA-2048', 0, 'INSTALLED', sqlTime(fulfilled), 0, sqlTime(paidAt!), sqlTime(fulfilled)]);
        }
        if (state === 'REFUNDED' || (state === 'REFUNDING' && rand() < 0.5)) {
          refundRows.push([orderNo, orderNo, `RF${orderNo}`, `4200${id}`, 'order', total, total, '用户申请退款', state === 'REFUNDED' ? 'SUCCESS' : rand() < 0.3 ? 'ABNORMAL' : 'PROCESSING',
            null, 1, null, sqlTime(paidAt! + DAY), sqlTime(paidAt! + DAY), refunded === null ? null : sqlTime(refunded), null, null]);
        }
        if (transfer && rand() < 0.05) {
          statementRows.push([`S${id}`, chinaYmd(created), `${orgs[org]!.name}`, '44001234567890123', '中国建设银行梅州分行', total, '123456', rand() < 0.3 ? 'exception' : 'credited',
            null, orderNo, 'bench.csv', sqlTime(created + DAY)]);
        }
        if (paid && rand() < 0.1) {
          invoiceRows.push([`A${String(id).padStart(12, '0')}`, openidOf(org), 'blue', null, null, 'organisation', orgs[org]!.name, '-', total, Math.round(total / 1.06), total - Math.round(total / 1.06),
            rand() < 0.005 ? 'failed' : 'issued', null, 1, null, null, null, null, null, null, 0, null, sqlTime(paidAt!), sqlTime(paidAt!)]);
        }
        if (rand() < 0.0005) {
          samples.orderNos.push(orderNo);
          samples.usccs.push(orgs[org]!.uscc);
          samples.openids.push(openidOf(org));
          samples.organisations.push(orgs[org]!.name);
        }
      }
      await insertBatches(conn, 'orders', orderCols, orders);
      await insertBatches(conn, 'order_lines', ['order_id', 'certificate_id', 'years', 'unit_price_fen', 'amount_fen', 'price_rule_id', 'open_key'], lineRows);
      // What OrderRepository.insert writes beside each order (search-keys.ts).
      await insertBatches(conn, 'order_search_keys', ['order_id', 'created_at', 'organization', 'credit_code'], keyRows);
      await insertBatches(conn, 'renewals', ['order_line_id', 'order_id', 'order_no', 'certificate_id', 'openid', 'years', 'algorithm', 'dual', 'state', 'installed_at', 'sandbox', 'created_at', 'updated_at'], renewalRows);
      log(`orders: ${orderId} in ${Date.now() - started} ms`);
    }
    await insertBatches(conn, 'refunds', ['order_no', 'out_trade_no', 'out_refund_no', 'transaction_id', 'kind', 'amount_fen', 'total_fen', 'reason', 'state', 'refund_id', 'attempts',
      'last_error', 'created_at', 'updated_at', 'settled_at', 'resolved_at', 'resolved_by'], refundRows);
    await insertBatches(conn, 'bank_statement_lines', ['bank_serial', 'line_date', 'payer_name', 'payer_account', 'payer_bank', 'amount_fen', 'remark', 'decision', 'reason', 'order_no', 'source', 'imported_at'], statementRows);
    await insertBatches(conn, 'invoice_requests', ['acceptance_no', 'openid', 'direction', 'reverses_id', 'replaces_id', 'buyer_kind', 'title', 'buyer_sealed', 'total_fen', 'amount_fen', 'tax_fen',
      'status', 'failure_reason', 'attempt_no', 'kind', 'invoice_code', 'invoice_number', 'issued_at', 'red_confirm_id', 'red_state', 'sandbox', 'contacts_erased_at', 'created_at', 'updated_at'], invoiceRows);
    await conn.query('ANALYZE TABLE orders, order_lines, order_search_keys, certificates, renewals, refunds, bank_statement_lines, invoice_requests');
    return { orders: orderId, lines, certificates: certCount, renewals, ms: Date.now() - started, samples };
  } finally {
    await conn.end();
  }
}
