import sharp from 'sharp';
import { type DocumentContentType, type DocumentKind } from './entities';
import { labelOf, type UploadedImage } from './schemas';

/**
 * 25 megapixels: phones save 12 MP photos by default (4032 × 3024), 24 MP in their high-resolution modes, and an
 * ID card or a stamped letter needs far less to be read. sharp's default (268 MP) lets a 5 MB file declare a
 * picture whose decoded pixels take gigabytes; at 25 MP one image decodes to at most 100 MB (RGBA), and a
 * submission holds three.
 */
export const MAX_INPUT_PIXELS = 25_000_000;

export type ReencodeResult = { ok: true; image: UploadedImage } | { ok: false; kind: DocumentKind; message: string; detail: string };

/**
 * Decodes the upload and writes it out again as the same format: auto-oriented first (phones store the camera's
 * rotation in EXIF, which is about to go), then encoded from the pixels alone, so EXIF (GPS position, device,
 * time), comments, and anything appended after the image's end never reach the reviewer or the database. What
 * does not decode is refused, whatever its first bytes said.
 */
export async function reencodeImage(kind: DocumentKind, contentType: DocumentContentType, bytes: Buffer): Promise<ReencodeResult> {
  const label = labelOf(kind);
  try {
    // The header first (no pixels decoded), to name the refusal; the decoder enforces the limit again itself.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (meta.format !== (contentType === 'image/png' ? 'png' : 'jpeg')) {
      return { ok: false, kind, message: `${label}无法识别，请重新拍照或选择相册中的 JPG、PNG 照片`, detail: `${kind}: bytes say ${contentType}, decoder says ${meta.format}` };
    }
    if ((meta.width ?? 0) * (meta.height ?? 0) > MAX_INPUT_PIXELS) {
      return { ok: false, kind, message: `${label}像素过大，请用手机普通拍照模式重新拍摄后上传`, detail: `${kind}: ${meta.width}x${meta.height} over ${MAX_INPUT_PIXELS} pixels` };
    }
    const oriented = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).rotate();
    const out = contentType === 'image/png' ? await oriented.png().toBuffer() : await oriented.jpeg({ quality: 90 }).toBuffer();
    return { ok: true, image: { kind, contentType, bytes: out } };
  } catch (err) {
    return { ok: false, kind, message: `${label}无法识别，请重新拍照或选择相册中的 JPG、PNG 照片`, detail: `${kind}: does not decode: ${(err as Error).message.slice(0, 120)}` };
  }
}

/** Re-encodes a submission's images one after another (one decoded picture in memory at a time). */
export async function reencodeAll(images: UploadedImage[]): Promise<{ ok: true; images: UploadedImage[] } | { ok: false; refused: Extract<ReencodeResult, { ok: false }>[] }> {
  const results: ReencodeResult[] = [];
  for (const image of images) results.push(await reencodeImage(image.kind, image.contentType, image.bytes));
  const refused = results.filter((r): r is Extract<ReencodeResult, { ok: false }> => !r.ok);
  if (refused.length) return { ok: false, refused };
  return { ok: true, images: results.map((r) => (r as Extract<ReencodeResult, { ok: true }>).image) };
}
