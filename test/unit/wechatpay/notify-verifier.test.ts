import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { NotifyRefused, createNotifyVerifier, type NotifyRefusalReason } from '../../../src/providers/wechatpay/notify-verifier';
import { aesGcmEncrypt, rsaSign, signedMessage, WechatPayKeyRing } from '../../../src/providers/wechatpay/sign';

const API_V3_KEY = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000';
const NOW = 1_764_000_000_000;
let wechatKey: KeyObject;
let otherKey: KeyObject;
let verify: ReturnType<typeof createNotifyVerifier>;

const transaction = {
  appid: 'wx1234567890abcdef', mchid: '1900007291', out_trade_no: 'R20261126ABC', transaction_id: '4200000001202611260000000001',
  trade_type: 'JSAPI', trade_state: 'SUCCESS', trade_state_desc: '支付成功', success_time: '2026-11-26T00:00:00+08:00',
  payer: { openid: 'oUser' }, amount: { total: 20000, payer_total: 20000, currency: 'CNY', payer_currency: 'CNY' },
};

/** A notify built as WeChat Pay builds it; `opts` lets each test break exactly one thing. */
function notify(opts: { resource?: object; originalType?: string; eventType?: string; key?: KeyObject; serial?: string; timestampS?: number; apiV3Key?: string; signature?: string; tamperBody?: boolean } = {}) {
  const originalType = opts.originalType ?? 'transaction';
  const nonce = 'fdasflkja484';
  const body = JSON.stringify({
    id: 'EV-2018022511223320873', create_time: '2026-11-26T00:00:01+08:00', resource_type: 'encrypt-resource',
    event_type: opts.eventType ?? 'TRANSACTION.SUCCESS', summary: '支付成功',
    resource: {
      original_type: originalType, algorithm: 'AEAD_AES_256_GCM', associated_data: originalType, nonce,
      ciphertext: aesGcmEncrypt(opts.apiV3Key ?? API_V3_KEY, nonce, originalType, JSON.stringify(opts.resource ?? transaction)),
    },
  });
  const ts = String(opts.timestampS ?? Math.floor(NOW / 1000));
  const hdrNonce = 'Kj7QIyUiYx1qVbm9';
  const headers = {
    'wechatpay-serial': opts.serial ?? PUB_KEY_ID,
    'wechatpay-timestamp': ts,
    'wechatpay-nonce': hdrNonce,
    'wechatpay-signature': opts.signature ?? rsaSign(opts.key ?? wechatKey, signedMessage(ts, hdrNonce, body)),
    'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
  };
  return { headers, body: opts.tamperBody ? body.replace('"summary":"支付成功"', '"summary":"支付成功 "') : body };
}

function refusal(fn: () => unknown): { reason: NotifyRefusalReason; probe: boolean } {
  try {
    fn();
  } catch (err) {
    if (err instanceof NotifyRefused) return { reason: err.reason, probe: err.probe };
    throw err;
  }
  throw new Error('expected a refusal');
}

beforeAll(() => {
  wechatKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ring = new WechatPayKeyRing().add(PUB_KEY_ID, wechatKey);
  verify = createNotifyVerifier({ keys: ring, apiV3Key: API_V3_KEY, clock: { nowMs: () => NOW } });
});

describe('WeChat Pay notify verifier', () => {
  it('When a payment notify is signed and encrypted as WeChat Pay does, then it verifies and the transaction is returned decrypted', () => {
    const n = notify();
    const out = verify(n.headers, Buffer.from(n.body));
    expect(out).toMatchObject({ kind: 'transaction', event_type: 'TRANSACTION.SUCCESS', id: 'EV-2018022511223320873', transaction });
  });

  it('When a refund notify arrives, then it verifies and the refund is returned with its status', () => {
    const refund = { mchid: '1900007291', out_trade_no: 'R20261126ABC', transaction_id: '42', out_refund_no: 'RF1', refund_id: '50', refund_status: 'SUCCESS', amount: { total: 20000, refund: 20000, payer_total: 20000, payer_refund: 20000 } };
    const n = notify({ resource: refund, originalType: 'refund', eventType: 'REFUND.SUCCESS' });
    expect(verify(n.headers, n.body)).toMatchObject({ kind: 'refund', event_type: 'REFUND.SUCCESS', refund: { out_refund_no: 'RF1', status: 'SUCCESS' } });
  });

  it('When the signature was made by another key, then it is refused as bad-signature', () => {
    expect(refusal(() => verify(notify({ key: otherKey }).headers, notify({ key: otherKey }).body)).reason).toBe('bad-signature');
  });

  it('When the body was changed after signing (even one space), then it is refused as bad-signature', () => {
    const n = notify({ tamperBody: true });
    expect(refusal(() => verify(n.headers, n.body)).reason).toBe('bad-signature');
  });

  it('When WeChat Pay sends a WECHATPAY/SIGNTEST/ probe, then it fails verification (marked as a probe)', () => {
    const n = notify({ signature: 'WECHATPAY/SIGNTEST/' + 'A'.repeat(300) });
    expect(refusal(() => verify(n.headers, n.body))).toEqual({ reason: 'bad-signature', probe: true });
  });

  it('When Wechatpay-Serial names a key we do not have, then it is refused as unknown-serial (nothing is fetched)', () => {
    const n = notify({ serial: '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC' });
    expect(refusal(() => verify(n.headers, n.body)).reason).toBe('unknown-serial');
  });

  it('When the timestamp is more than 5 minutes off either way, then it is refused as stale; 5 minutes exactly still passes', () => {
    const now = Math.floor(NOW / 1000);
    for (const ts of [now - 301, now + 301, 1_000_000_000]) {
      const n = notify({ timestampS: ts });
      expect(refusal(() => verify(n.headers, n.body)).reason).toBe('stale');
    }
    const edge = notify({ timestampS: now - 300 });
    expect(verify(edge.headers, edge.body).kind).toBe('transaction');
  });

  it('When the resource was encrypted with another APIv3 key, then it is refused as bad-ciphertext (the GCM tag is checked)', () => {
    const n = notify({ apiV3Key: 'b'.repeat(32) });
    expect(refusal(() => verify(n.headers, n.body)).reason).toBe('bad-ciphertext');
  });

  it('When headers are missing, the body is not JSON or the resource is not a transaction, then it is refused as malformed', () => {
    const n = notify();
    const { 'wechatpay-nonce': _drop, ...noNonce } = n.headers;
    expect(refusal(() => verify(noNonce, n.body)).reason).toBe('malformed');
    const ts = n.headers['wechatpay-timestamp'];
    const junk = 'not json';
    expect(refusal(() => verify({ ...n.headers, 'wechatpay-signature': rsaSign(wechatKey, signedMessage(ts, n.headers['wechatpay-nonce'], junk)) }, junk)).reason).toBe('malformed');
    const odd = notify({ resource: { hello: 'world' } });
    expect(refusal(() => verify(odd.headers, odd.body)).reason).toBe('malformed');
    const mixed = notify({ eventType: 'REFUND.SUCCESS' });
    expect(refusal(() => verify(mixed.headers, mixed.body)).reason).toBe('malformed');
  });
});
