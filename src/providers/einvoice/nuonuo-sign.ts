import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The Nuonuo (诺诺) open platform's request signature, `X-Nuonuo-Sign`.
 *
 * Where this comes from: the vendor's API pages (open.nuonuo.com / jss.com.cn "公共请求参数") list the headers
 * (X-Nuonuo-Sign, accessToken, userTax, method) and the query parameters senid (32-character unique id), nonce
 * (8-digit random positive integer), timestamp (Unix seconds) and appkey. The pages leave the algorithm to the
 * SDKs; the vendor's PHP SDK (`NNOpenSDK::MakeSign`, as vendored e.g. in the Buqiu\Invoice InvoiceSDK.php) builds
 *
 *   a={path[3]}&l={path[2]}&p={path[1]}&k={appKey}&i={senid}&n={nonce}&t={timestamp}&f={body}
 *
 * from the URL path split on '/', so /open/v1/services reads a=services&l=v1&p=open, and signs it with
 * base64(HMAC-SHA1(appSecret, string)); the Java NNOpenSDK and Odoo's l10n_cn_edi Nuonuo client do the same.
 * `f` is the exact body bytes, so the body is sent exactly as signed (no re-serialisation in between).
 */

export interface NuonuoSignInput {
  /** The URL path, e.g. '/open/v1/services'. */
  path: string;
  appKey: string;
  appSecret: string;
  senid: string;
  nonce: string;
  timestamp: string;
  /** The request body exactly as sent. */
  body: string;
}

export function nuonuoSignedString(input: Omit<NuonuoSignInput, 'appSecret'>): string {
  const pieces = input.path.split('/');
  if (pieces.length < 4) throw new RangeError(`Nuonuo signing needs a path like /open/v1/services, got ${input.path}`);
  return `a=${pieces[3]}&l=${pieces[2]}&p=${pieces[1]}&k=${input.appKey}&i=${input.senid}&n=${input.nonce}&t=${input.timestamp}&f=${input.body}`;
}

export function signNuonuo(input: NuonuoSignInput): string {
  return createHmac('sha1', input.appSecret).update(nuonuoSignedString(input), 'utf8').digest('base64');
}

/** The check a Nuonuo gateway makes (our test double uses it): same string, same key, constant-time compare. */
export function verifyNuonuoSign(input: NuonuoSignInput, signature: string): boolean {
  const expected = Buffer.from(signNuonuo(input));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
