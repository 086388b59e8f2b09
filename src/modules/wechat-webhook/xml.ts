import { XMLParser } from 'fast-xml-parser';

/**
 * WeChat's XML: flat <xml> with text or CDATA children. fast-xml-parser replaces xml2js here: it is several
 * times faster, keeps values as strings (MsgId exceeds 2^53) and, with the DOCTYPE check below, expands no
 * entities an attacker declares.
 */
export class XmlRefusedError extends Error {}

const DOCTYPE_OR_ENTITY = /<!\s*(DOCTYPE|ENTITY)/i;

/** Refuses any document type or entity declaration before anything reads the XML (XXE, entity expansion). */
export function assertNoDeclarations(xml: string): void {
  if (DOCTYPE_OR_ENTITY.test(xml)) throw new XmlRefusedError('DOCTYPE or ENTITY declaration refused');
}

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
});

export type WechatXml = Record<string, string | Record<string, unknown>>;

export function parseWechatXml(xml: string): WechatXml {
  assertNoDeclarations(xml);
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (err) {
    throw new XmlRefusedError(`malformed XML: ${(err as Error).message}`);
  }
  const root = (doc as { xml?: unknown }).xml;
  if (!root || typeof root !== 'object' || Array.isArray(root)) throw new XmlRefusedError('missing <xml> root');
  return root as WechatXml;
}

export function text(msg: WechatXml, field: string): string | undefined {
  const v = msg[field];
  return typeof v === 'string' ? v : undefined;
}

/** CDATA cannot contain "]]>": split it so the text survives and cannot close the section early. */
export function cdata(value: string): string {
  return `<![CDATA[${value.replace(/\]\]>/g, ']]]]><![CDATA[>')}]]>`;
}

export function textReplyXml(toUser: string, fromUser: string, content: string, createTimeSeconds: number): string {
  return `<xml><ToUserName>${cdata(toUser)}</ToUserName><FromUserName>${cdata(fromUser)}</FromUserName><CreateTime>${createTimeSeconds}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>${cdata(content)}</Content></xml>`;
}

/** Hands the user's message to the customer-service desk (多客服); WeChat shows the user nothing by itself. */
export function transferReplyXml(toUser: string, fromUser: string, createTimeSeconds: number): string {
  return `<xml><ToUserName>${cdata(toUser)}</ToUserName><FromUserName>${cdata(fromUser)}</FromUserName><CreateTime>${createTimeSeconds}</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>`;
}

export function encryptedReplyXml(encrypt: string, signature: string, timestamp: string, nonce: string): string {
  return `<xml><Encrypt>${cdata(encrypt)}</Encrypt><MsgSignature>${cdata(signature)}</MsgSignature><TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`;
}
