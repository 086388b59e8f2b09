import { randomBytes } from 'node:crypto';
import { sha1Signature, WechatMessageCrypto } from './crypto';
import { cdata } from './xml';

/**
 * Builds a webhook POST exactly as WeChat's servers do (safe mode: encrypted body, msg_signature; plain mode:
 * signature only). Used by the /dev/wechat simulator, the tests and the benchmark — never by production code paths.
 */
export interface WebhookIdentity {
  appId: string;
  token: string;
  encodingAesKey?: string;
}

export interface SignedWebhookRequest {
  query: Record<string, string>;
  body: string;
  path: string;
}

export function signedWebhookRequest(identity: WebhookIdentity, innerXml: string, opts: { timestamp?: number; nonce?: string } = {}): SignedWebhookRequest {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? String(randomBytes(5).readUIntBE(0, 5));
  const signature = sha1Signature(identity.token, timestamp, nonce);
  const query: Record<string, string> = { signature, timestamp, nonce };
  let body = innerXml;
  if (identity.encodingAesKey) {
    const crypto = new WechatMessageCrypto(identity.token, identity.encodingAesKey, identity.appId);
    const encrypt = crypto.encrypt(innerXml);
    const toUser = /<ToUserName><!\[CDATA\[(.*?)\]\]><\/ToUserName>/.exec(innerXml)?.[1] ?? '';
    body = `<xml><ToUserName><![CDATA[${toUser}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    Object.assign(query, { encrypt_type: 'aes', msg_signature: crypto.signature(timestamp, nonce, encrypt) });
    const openid = /<FromUserName><!\[CDATA\[(.*?)\]\]><\/FromUserName>/.exec(innerXml)?.[1];
    if (openid) query.openid = openid;
  }
  return { query, body, path: `/wechat?${new URLSearchParams(query).toString()}` };
}

/** Inner XML of an event or text message, in WeChat's field order. */
export function inboundXml(fields: { toUser: string; fromUser: string; createTime: number; msgType: string } & Record<string, string | number | undefined>): string {
  const { toUser, fromUser, createTime, msgType, ...rest } = fields;
  // cdata() splits a "]]>" in the text (a user may type one), as WeChat's own XML must survive it.
  let xml = `<xml><ToUserName>${cdata(toUser)}</ToUserName><FromUserName>${cdata(fromUser)}</FromUserName><CreateTime>${createTime}</CreateTime><MsgType>${cdata(msgType)}</MsgType>`;
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined) continue;
    xml += typeof v === 'number' ? `<${k}>${v}</${k}>` : `<${k}>${cdata(v)}</${k}>`;
  }
  return `${xml}</xml>`;
}

/** What WeChat does with our reply: checks its MsgSignature and decrypts it (safe mode), or takes it as is. */
export function openWebhookReply(identity: WebhookIdentity, replyBody: string): { xml: string; signatureValid: boolean } {
  if (!identity.encodingAesKey || replyBody === 'success' || replyBody === '') return { xml: replyBody, signatureValid: true };
  const pick = (tag: string) => new RegExp(`<${tag}>(?:<!\\[CDATA\\[)?(.*?)(?:\\]\\]>)?</${tag}>`).exec(replyBody)?.[1] ?? '';
  const crypto = new WechatMessageCrypto(identity.token, identity.encodingAesKey, identity.appId);
  const encrypt = pick('Encrypt');
  const signatureValid = crypto.signature(pick('TimeStamp'), pick('Nonce'), encrypt) === pick('MsgSignature');
  return { xml: crypto.decrypt(encrypt).message, signatureValid };
}

/**
 * subscribe_msg_popup_event / subscribe_msg_change_event as WeChat sends them: a nested list of template answers
 * (inboundXml writes flat fields only).
 */
export function subscribeEventXml(fields: { toUser: string; fromUser: string; createTime: number; event: 'subscribe_msg_popup_event' | 'subscribe_msg_change_event'; answers: Array<{ templateId: string; status: 'accept' | 'reject' }> }): string {
  const wrapper = fields.event === 'subscribe_msg_popup_event' ? 'SubscribeMsgPopupEvent' : 'SubscribeMsgChangeEvent';
  const list = fields.answers.map((a) => `<List><TemplateId>${cdata(a.templateId)}</TemplateId><SubscribeStatusString>${cdata(a.status)}</SubscribeStatusString>${fields.event === 'subscribe_msg_popup_event' ? '<PopupScene>2</PopupScene>' : ''}</List>`).join('');
  return inboundXml({ toUser: fields.toUser, fromUser: fields.fromUser, createTime: fields.createTime, msgType: 'event', Event: fields.event }).replace('</xml>', `<${wrapper}>${list}</${wrapper}></xml>`);
}
