/**
 * Just enough DER reading to take signed bytes out of a structure exactly as they were transmitted:
 * re-encoding a parsed TBSCertificate or CertificationRequestInfo is not guaranteed to give the same bytes
 * (non-canonical encoders exist in the wild), and a signature is only over the original ones.
 */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error('DER: truncated');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    if (p + n > buf.length) throw new Error('DER: truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new Error('DER: truncated');
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed value (SEQUENCE/SET), in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end;) {
    const t = readTlv(buf, p);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** The whole encoding (tag, length, content) of a value. */
export const raw = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.start, t.end);

/**
 * For SIGNED{…} structures (Certificate, CertificationRequest): the first element, byte for byte.
 * Trailing bytes after the outer SEQUENCE are refused rather than ignored.
 */
export function signedPart(der: Uint8Array): Uint8Array {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('DER: not a single SEQUENCE');
  const first = readTlv(der, outer.contentStart);
  if (first.tag !== 0x30) throw new Error('DER: signed part is not a SEQUENCE');
  return raw(der, first);
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const toBuffer = (b: Uint8Array | ArrayBuffer): Buffer => (b instanceof ArrayBuffer ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
/**
 * A fresh ArrayBuffer holding exactly these bytes (what @peculiar's ASN.1 classes expect). Not `b.slice()`:
 * on a Buffer that is a view, and `.buffer` would then be Node's whole shared 8 KB pool.
 */
export const toArrayBuffer = (b: Uint8Array): ArrayBuffer => new Uint8Array(b).buffer as ArrayBuffer;

/** DER of an OBJECT IDENTIFIER (used for AlgorithmIdentifier parameters, which @peculiar keeps as raw bytes). */
export function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new Error(`bad OID ${oid}`);
  const body: number[] = [];
  const push = (v: bigint) => {
    const bytes = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    body.push(...bytes);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return new Uint8Array([0x06, body.length, ...body]);
}

/** Reads a DER OBJECT IDENTIFIER; undefined when the bytes are something else (absent or NULL parameters). */
export function decodeOid(der: Uint8Array | ArrayBuffer | null | undefined): string | undefined {
  if (!der) return undefined;
  const buf = der instanceof ArrayBuffer ? new Uint8Array(der) : der;
  if (buf.length < 3 || buf[0] !== 0x06 || buf[1] !== buf.length - 2) return undefined;
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of buf.subarray(2)) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (!arcs.length) return undefined;
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join('.');
}

/** Tag + definite length + content. */
export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export const concatBytes = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
