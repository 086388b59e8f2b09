import type Koa from 'koa';
import request from 'supertest';
import { inboundXml, openWebhookReply, signedWebhookRequest, type WebhookIdentity } from '../../src/modules/wechat-webhook/outbound-request';
import { TEST_WECHAT } from './harness';

export const IDENTITY: WebhookIdentity = { appId: TEST_WECHAT.WECHAT_APPID, token: TEST_WECHAT.WECHAT_TOKEN, encodingAesKey: TEST_WECHAT.WECHAT_ENCODING_AES_KEY };

let seq = 0;
export const uniqueOpenid = () => `oTest${process.pid}x${Date.now().toString(36)}x${++seq}`;
export const now = () => Math.floor(Date.now() / 1000);

export function eventXml(openid: string, event: string, extra: Record<string, string | number> = {}, createTime = now()) {
  return inboundXml({ toUser: 'gh_test', fromUser: openid, createTime, msgType: 'event', Event: event, ...extra });
}

export function textXml(openid: string, content: string, msgId = `${Date.now()}${++seq}0000`) {
  return inboundXml({ toUser: 'gh_test', fromUser: openid, createTime: now(), msgType: 'text', Content: content, MsgId: msgId });
}

/** Sends one request exactly as WeChat would (new timestamp and nonce each call unless given). */
export async function sendToWebhook(app: Koa, innerXml: string, opts: { timestamp?: number; nonce?: string; identity?: WebhookIdentity } = {}) {
  const req = signedWebhookRequest(opts.identity ?? IDENTITY, innerXml, opts);
  const res = await request(app.callback()).post(req.path).type('text/xml').send(req.body);
  return { res, req };
}

/** The reply as WeChat reads it: signature checked, decrypted. */
export function replyText(body: string): string {
  const { xml, signatureValid } = openWebhookReply(IDENTITY, body);
  if (!signatureValid) throw new Error('reply MsgSignature invalid');
  return xml;
}
