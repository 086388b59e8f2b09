import { type WechatConfig } from '../../../src/config';
import { sha1Signature, WechatMessageCrypto } from '../../../src/modules/wechat-webhook/crypto';
import { WebhookGuard, WebhookRefusal } from '../../../src/modules/wechat-webhook/guard';
import { inboundXml, signedWebhookRequest } from '../../../src/modules/wechat-webhook/outbound-request';

const NOW = 1_764_100_000;
const safe: WechatConfig = {
  mode: 'real',
  appId: 'wx1234567890abcdef',
  appSecret: 'x'.repeat(32),
  token: 'testtoken123',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  apiBase: 'http://127.0.0.1:9',
  oauthAuthorizeUrl: 'http://127.0.0.1:9/authorize',
  replyDeadlineMs: 4500,
};
const plain: WechatConfig = { ...safe, encodingAesKey: undefined };
const subscribe = inboundXml({ toUser: 'gh_test', fromUser: 'oUser1', createTime: NOW, msgType: 'event', Event: 'subscribe', EventKey: 'qrscene_expo' });

function refusal(fn: () => unknown): WebhookRefusal {
  try {
    fn();
  } catch (err) {
    if (err instanceof WebhookRefusal) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('WebhookGuard in safe mode (EncodingAESKey configured)', () => {
  const guard = new WebhookGuard(safe, () => NOW);

  it('When a properly encrypted request arrives, then the inner message is returned', () => {
    const req = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '42' });
    const out = guard.verifyPost(req.query, req.body);
    expect(out.message.FromUserName).toBe('oUser1');
    expect(out.message.EventKey).toBe('qrscene_expo');
    expect(out.encrypted).toBe(true);
  });

  it('When a plaintext POST carries a valid plain signature, then it is refused as a downgrade', () => {
    const req = signedWebhookRequest(plain, subscribe, { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost(req.query, req.body))).toMatchObject({ status: 401, outcome: 'downgraded' });
  });

  it('When encrypt_type=aes is claimed without msg_signature, then it is refused as a downgrade', () => {
    const req = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '42' });
    const { msg_signature: _drop, ...query } = req.query;
    expect(refusal(() => guard.verifyPost(query, req.body))).toMatchObject({ status: 401, outcome: 'downgraded' });
  });

  it('When the encrypted body was swapped after signing, then msg_signature fails', () => {
    const a = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '42' });
    const b = signedWebhookRequest(safe, subscribe.replace('oUser1', 'oUser2'), { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost(a.query, b.body))).toMatchObject({ status: 401, outcome: 'forged' });
  });

  it('When the timestamp is more than 300 s old or ahead, then the request is refused as stale', () => {
    for (const ts of [NOW - 301, NOW + 301]) {
      const req = signedWebhookRequest(safe, subscribe, { timestamp: ts, nonce: '42' });
      expect(refusal(() => guard.verifyPost(req.query, req.body))).toMatchObject({ status: 403, outcome: 'stale' });
    }
    const edge = signedWebhookRequest(safe, subscribe, { timestamp: NOW - 300, nonce: '42' });
    expect(guard.verifyPost(edge.query, edge.body).message.FromUserName).toBe('oUser1');
  });

  it('When the message was encrypted for another appid with our key and token, then it is refused', () => {
    const other = { ...safe, appId: 'wxffffffffffffffff' };
    const req = signedWebhookRequest(other, subscribe, { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost(req.query, req.body))).toMatchObject({ status: 403, outcome: 'wrong_appid' });
  });

  it('When the outer XML declares a DOCTYPE or entity, then it is refused before parsing', () => {
    const req = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '42' });
    const evil = `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>${req.body}`;
    expect(refusal(() => guard.verifyPost(req.query, evil))).toMatchObject({ status: 400, outcome: 'malformed' });
  });

  it('When the decrypted inner XML declares an entity, then it is refused', () => {
    const crypto = new WechatMessageCrypto(safe.token, safe.encodingAesKey!, safe.appId);
    const inner = `<!DOCTYPE x [<!ENTITY lol "lol">]>${subscribe}`;
    const encrypt = crypto.encrypt(inner);
    const query = { timestamp: String(NOW), nonce: '7', encrypt_type: 'aes', msg_signature: crypto.signature(String(NOW), '7', encrypt) };
    expect(refusal(() => guard.verifyPost(query, `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`))).toMatchObject({ outcome: 'malformed' });
  });

  it('When two identical requests are verified, then they share a replay key; a different nonce does not', () => {
    const a = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '42' });
    const b = signedWebhookRequest(safe, subscribe, { timestamp: NOW, nonce: '43' });
    expect(guard.verifyPost(a.query, a.body).replayKey).toBe(guard.verifyPost(a.query, a.body).replayKey);
    expect(guard.verifyPost(b.query, b.body).replayKey).not.toBe(guard.verifyPost(a.query, a.body).replayKey);
  });

  it('When the GET URL check comes with a valid plain signature, then echostr is returned even in safe mode', () => {
    const query = { signature: sha1Signature(safe.token, String(NOW), '9'), timestamp: String(NOW), nonce: '9', echostr: '1234567890' };
    expect(guard.verifyUrlCheck(query)).toBe('1234567890');
    expect(refusal(() => guard.verifyUrlCheck({ ...query, signature: '0'.repeat(40) }))).toMatchObject({ status: 401, outcome: 'forged' });
  });
});

describe('WebhookGuard in plain mode (no EncodingAESKey)', () => {
  const guard = new WebhookGuard(plain, () => NOW);

  it('When a signed plaintext POST arrives, then it is accepted', () => {
    const req = signedWebhookRequest(plain, subscribe, { timestamp: NOW, nonce: '42' });
    expect(guard.verifyPost(req.query, req.body).encrypted).toBe(false);
  });

  it('When the signature is wrong, then it is refused as forged', () => {
    const req = signedWebhookRequest(plain, subscribe, { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost({ ...req.query, signature: 'f'.repeat(40) }, req.body))).toMatchObject({ status: 401, outcome: 'forged' });
  });

  it('When a request claims encryption we cannot check, then it is refused', () => {
    const req = signedWebhookRequest(plain, subscribe, { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost({ ...req.query, encrypt_type: 'aes' }, req.body))).toMatchObject({ status: 400 });
  });

  it('When the message lacks FromUserName, then it is refused as malformed', () => {
    const req = signedWebhookRequest(plain, '<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>', { timestamp: NOW, nonce: '42' });
    expect(refusal(() => guard.verifyPost(req.query, req.body))).toMatchObject({ status: 400, outcome: 'malformed' });
  });
});
