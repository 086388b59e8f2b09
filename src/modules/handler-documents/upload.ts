import koaMulter from '@koa/multer';
import type Koa from 'koa';
import { MulterError } from 'multer';
import { AppError, PayloadTooLargeError, ValidationError } from '../../lib/errors';
import { verifyCsrf } from '../../lib/http/csrf';
import { type DocumentKind } from './entities';
import { DECLARED_IMAGE_TYPES, DOCUMENT_KINDS, labelOf, MAX_FILE_BYTES } from './schemas';

export interface ParsedUpload {
  fields: Record<string, string>;
  files: Partial<Record<DocumentKind, Buffer>>;
}

/** The text fields multer collected so far (also after an abort, to fill the form again). */
export function fieldsOf(ctx: Koa.Context): Record<string, string> {
  const body = (ctx.request as unknown as { body?: Record<string, unknown> }).body ?? (ctx.req as unknown as { body?: Record<string, unknown> }).body ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Parses the multipart form in memory (3 files of at most 5 MB, a few short fields; nothing touches the disk
 * unencrypted). CSRF holds for multipart: the form's hidden `_csrf` comes before the file inputs, so browsers
 * send it first and it is checked when the first file starts, before any image is buffered; it is checked
 * again after parsing (a post without files). Errors become AppErrors with a Chinese message.
 */
export async function parseUpload(ctx: Koa.Context): Promise<ParsedUpload> {
  if (!ctx.is('multipart')) throw new ValidationError('请通过页面上的表单提交', 'documents post is not multipart');
  const middleware = koaMulter({
    storage: koaMulter.memoryStorage(),
    limits: { fileSize: MAX_FILE_BYTES, files: DOCUMENT_KINDS.length, fields: 10, fieldSize: 2048, fieldNameSize: 32, parts: DOCUMENT_KINDS.length + 10 },
    fileFilter: (req, file, cb) => {
      try {
        verifyCsrf(ctx, { _csrf: String((req as unknown as { body?: Record<string, unknown> }).body?._csrf ?? '') });
      } catch (err) {
        return cb(err as Error);
      }
      // The browser's claim is only a first filter (octet-stream: some WebViews send it for photos); the bytes decide later.
      if (!DECLARED_IMAGE_TYPES.has(file.mimetype) && file.mimetype !== 'application/octet-stream') {
        return cb(new ValidationError(`${labelOf(file.fieldname as DocumentKind)}不是 JPG 或 PNG 图片，请重新选择`, `declared type ${file.mimetype.slice(0, 40)} refused`));
      }
      cb(null, true);
    },
  }).fields(DOCUMENT_KINDS.map((d) => ({ name: d.kind, maxCount: 1 })));
  try {
    await middleware(ctx, async () => undefined);
  } catch (err) {
    throw toAppError(err);
  }
  const fields = fieldsOf(ctx);
  verifyCsrf(ctx, fields);
  const uploaded = (ctx as unknown as { files?: Record<string, { buffer: Buffer }[]> }).files ?? {};
  const files: Partial<Record<DocumentKind, Buffer>> = {};
  for (const { kind } of DOCUMENT_KINDS) {
    const first = uploaded[kind]?.[0];
    if (first) files[kind] = first.buffer;
  }
  return { fields, files };
}

function toAppError(err: unknown): Error {
  if (err instanceof AppError) return err;
  if (err instanceof MulterError) {
    if (err.code === 'LIMIT_FILE_SIZE') {
      return new PayloadTooLargeError(`${labelOf(err.field as DocumentKind)}照片超过 5 MB，请压缩或重新拍照后上传`, `upload over ${MAX_FILE_BYTES} bytes in ${err.field}`);
    }
    return new ValidationError('上传的内容不符合要求，请重新选择照片后提交', `multer refused the upload: ${err.code}`);
  }
  return new ValidationError('上传未完成，请检查网络后重新提交', `upload unreadable: ${(err as Error).message}`, { cause: err });
}
