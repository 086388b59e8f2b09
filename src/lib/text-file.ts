import { ValidationError } from './errors';

/**
 * Reads an operator's CSV as UTF-8 (a BOM is fine). A GBK file — Excel's default "CSV" on Chinese Windows — is
 * refused with the fix, never read as mojibake; so is UTF-16.
 */
export function decodeUtf8(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) throw new ValidationError('文件是 UTF-16 编码，请在 Excel 中另存为「CSV UTF-8（逗号分隔）」', 'UTF-16 LE BOM');
  try {
    // fatal: refuse invalid UTF-8 instead of replacing it; the BOM is dropped by the decoder.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ValidationError('文件不是 UTF-8 编码（可能是 GBK），请在 Excel 中另存为「CSV UTF-8（逗号分隔）」', 'invalid UTF-8');
  }
}
