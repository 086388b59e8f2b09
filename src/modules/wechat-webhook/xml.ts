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
  return parseFlatWechatXml(xml) ?? parseWithLibrary(xml);
}

/** fast-xml-parser: anything the flat reader below does not take (declarations, entities, nesting, repeats…). */
export function parseWithLibrary(xml: string): WechatXml {
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

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * What WeChat sends: `<xml>` then flat `<Name>value</Name>` children, each value CDATA or plain text without
 * markup or entities. Reads exactly that in one pass (an order of magnitude cheaper than the general parser on
 * the webhook's hot path) and gives the same result fast-xml-parser would (CDATA kept as is, plain text
 * trimmed); on anything else it returns undefined and the general parser decides (tested side by side).
 */
export function parseFlatWechatXml(xml: string): WechatXml | undefined {
  if (!xml.startsWith('<xml>')) return undefined;
  const out: WechatXml = {};
  let i = 5;
  for (;;) {
    while (i < xml.length && isSpace(xml.charCodeAt(i))) i++;
    if (xml.startsWith('</xml>', i)) {
      for (let j = i + 6; j < xml.length; j++) if (!isSpace(xml.charCodeAt(j))) return undefined;
      return out;
    }
    if (xml.charCodeAt(i) !== 0x3c /* < */) return undefined;
    const close = xml.indexOf('>', i);
    if (close < 0) return undefined;
    const name = xml.slice(i + 1, close);
    if (!NAME.test(name) || Object.prototype.hasOwnProperty.call(out, name)) return undefined;
    i = close + 1;
    let value: string;
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i + 9);
      if (end < 0) return undefined;
      value = xml.slice(i + 9, end);
      i = end + 3;
    } else {
      const lt = xml.indexOf('<', i);
      if (lt < 0) return undefined;
      value = xml.slice(i, lt);
      if (value.includes('&') || value.includes('>')) return undefined;
      value = value.trim();
      i = lt;
    }
    if (!xml.startsWith(`</${name}>`, i)) return undefined;
    i += name.length + 3;
    out[name] = value;
  }
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
