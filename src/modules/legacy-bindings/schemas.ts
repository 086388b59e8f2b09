import { z } from 'zod';

/**
 * The legacy binding file as operators hand it in, and the rules for each value. The old mini program exported
 * a unionid per user and, per certificate, its serial number or the 介质编号 (media serial) of the U-KEY.
 */
export type LegacyKeyKind = 'serial' | 'media';

/** Header names accepted for each column (compared trimmed and lower-case); the Chinese ones are what Excel users type. */
export const HEADER_ALIASES: Record<'unionid' | LegacyKeyKind, readonly string[]> = {
  unionid: ['unionid', 'union_id'],
  serial: ['serial', 'certificate_serial', 'cert_serial', 'serial_number', '证书序列号', '序列号'],
  media: ['media_serial', 'mediaserial', 'media', '介质编号', '介质序列号'],
};

/**
 * A unionid as WeChat issues them (28 characters of base64url today; the sandbox makes 20). Anything else is a
 * typo or a spreadsheet that ate the value (scientific notation, a trailing space turned into a non-breaking one).
 */
export const unionid = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'unionid 格式不正确（应为 16-64 位字母、数字、- 或 _）');

/**
 * A certificate serial in hex, as Windows' certificate dialog or openssl print it: spaces and colons between
 * bytes and a 0x prefix are tolerated and dropped; stored lower-case without separators (as the certificates
 * table keeps it). At most 20 bytes (RFC 5280), plus the sign byte DER may add.
 */
export const serialHex = z.string()
  .transform((s) => s.replace(/^0x/i, '').replace(/[\s:]/g, '').toLowerCase())
  .pipe(z.string()
    .min(1, '证书序列号为空')
    .max(42, '证书序列号过长（最多 21 字节）')
    .regex(/^[0-9a-f]+$/, '证书序列号不是十六进制'));

/** 介质编号 as printed on the U-KEY and reported by the key agent (the same rule /capc/ applies). */
export const mediaSerial = z.string()
  .min(4, '介质编号过短（至少 4 位）')
  .max(64, '介质编号过长（最多 64 位）')
  .regex(/^[A-Za-z0-9_-]+$/, '介质编号只能含字母、数字、- 或 _');

/**
 * DER writes a serial with a leading 00 byte when its top bit is set, and exports from other tools drop it (or
 * drop a leading zero nibble). The certificates table keeps DER's form, so a lookup tries each spelling.
 */
export function serialVariants(serial: string): string[] {
  const bare = serial.replace(/^0+/, '') || '0';
  const even = bare.length % 2 ? `0${bare}` : bare;
  return [...new Set([serial, bare, even, `00${even}`])];
}

/** The first problem zod found, as the report shows it. */
export function firstMessage(error: z.ZodError): string {
  return error.issues[0]?.message ?? '格式不正确';
}
