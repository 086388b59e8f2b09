import { parseHandlerForm } from '../handlers/schemas';
import { type DocumentContentType, type DocumentKind } from './entities';

/** 5 MB: a phone photo of an ID card is 1–4 MB; anything larger is a mistake or abuse. */
export const MAX_FILE_BYTES = 5 * 1024 * 1024;

/** The three uploads, in the order the form shows them (field name = kind). */
export const DOCUMENT_KINDS: readonly { kind: DocumentKind; label: string }[] = [
  { kind: 'id-front', label: '身份证人像面' },
  { kind: 'id-back', label: '身份证国徽面' },
  { kind: 'authorisation', label: '授权委托书（加盖单位公章）' },
];
export const labelOf = (kind: DocumentKind) => DOCUMENT_KINDS.find((d) => d.kind === kind)?.label ?? kind;

/** Types the browser may claim; a quick first filter only, the magic bytes decide. */
export const DECLARED_IMAGE_TYPES = new Set(['image/jpeg', 'image/jpg', 'image/pjpeg', 'image/png']);

/**
 * What the bytes are, whatever the browser claimed: a JPEG starts with FF D8 FF; a PNG with its 8-byte
 * signature followed by the IHDR chunk. Anything else (a PDF, an HTML page, a script renamed .jpg) is refused.
 */
export function sniffImage(bytes: Buffer): DocumentContentType | null {
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length >= 24 && bytes.subarray(0, 8).equals(png) && bytes.subarray(12, 16).toString('latin1') === 'IHDR') return 'image/png';
  return null;
}

export interface UploadedImage {
  kind: DocumentKind;
  contentType: DocumentContentType;
  bytes: Buffer;
}

export interface DocumentForm {
  name: string;
  idNumber: string;
  organisation: string;
  files: UploadedImage[];
}

export type DocumentFormErrors = Partial<Record<'name' | 'idNumber' | 'organisation' | 'consent' | DocumentKind, string>>;
export type DocumentFormResult = { ok: true; value: DocumentForm } | { ok: false; errors: DocumentFormErrors };

/** 单位名称 as on the 授权委托书: 2–100 characters, no control characters or markup. */
const ORGANISATION = /^[^\p{Cc}<>]{2,100}$/u;

/**
 * Validates the text fields (name and ID number exactly as the liveness form does: GB 11643 check digit) and
 * the three images (present, an image by its bytes; size is enforced while parsing).
 */
export function parseDocumentForm(fields: Record<string, string>, files: Partial<Record<DocumentKind, Buffer>>, nowMs: number): DocumentFormResult {
  const person = parseHandlerForm(fields, nowMs);
  const errors: DocumentFormErrors = person.ok ? {} : { ...person.errors };
  const organisation = (fields.organisation ?? '').replace(/\s+/g, ' ').trim();
  if (!organisation) errors.organisation = '请输入单位名称';
  else if (!ORGANISATION.test(organisation)) errors.organisation = '请按授权委托书上的单位全称填写（2-100 个字）';
  if (fields.consent !== 'agree') errors.consent = '请阅读说明并勾选同意后再提交';
  const images: UploadedImage[] = [];
  for (const { kind, label } of DOCUMENT_KINDS) {
    const bytes = files[kind];
    const contentType = bytes ? sniffImage(bytes) : null;
    if (!bytes || bytes.length === 0) errors[kind] = `请上传${label}照片`;
    else if (!contentType) errors[kind] = `${label}不是 JPG 或 PNG 图片，请拍照或选择相册中的照片`;
    else images.push({ kind, contentType, bytes });
  }
  if (!person.ok || Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, value: { ...person.value, organisation, files: images } };
}
