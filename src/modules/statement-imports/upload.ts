import koaMulter from '@koa/multer';
import type Koa from 'koa';
import { MulterError } from 'multer';
import { AppError, PayloadTooLargeError, ValidationError } from '../../lib/errors';
import { MAX_STATEMENT_BYTES } from './service';

const ACCEPTED = /\.(csv|xlsx|xls)$/i;

/**
 * The uploaded statement, in memory (one file, MAX_STATEMENT_BYTES at most: multer stops reading past it, so an
 * oversized upload costs no more memory than the limit). The console checked CSRF from the form action's query.
 */
export async function readStatementUpload(ctx: Koa.Context): Promise<{ name: string; bytes: Buffer }> {
  if (!ctx.is('multipart')) throw new ValidationError('请通过页面上的表单上传对账单', 'statement upload is not multipart');
  const middleware = koaMulter({
    storage: koaMulter.memoryStorage(),
    limits: { fileSize: MAX_STATEMENT_BYTES, files: 1, fields: 5, fieldSize: 1024, parts: 6 },
    fileFilter: (_req, file, cb) => {
      if (!ACCEPTED.test(file.originalname)) return cb(new ValidationError('请上传 CSV 或 Excel 工作簿（.xlsx）格式的对账单', `statement upload named ${file.originalname.slice(0, 60)}`));
      cb(null, true);
    },
  }).fields([{ name: 'file', maxCount: 1 }]);
  try {
    await middleware(ctx, async () => undefined);
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof MulterError && err.code === 'LIMIT_FILE_SIZE') {
      throw new PayloadTooLargeError(`对账单超过 ${MAX_STATEMENT_BYTES / 1048576} MB，请按较短的日期范围导出后分次导入`, `statement upload over ${MAX_STATEMENT_BYTES} bytes`);
    }
    throw new ValidationError('上传未完成或内容不符合要求，请重新选择文件', `statement upload refused: ${(err as Error).message}`, { cause: err });
  }
  const file = (ctx as unknown as { files?: Record<string, { buffer: Buffer; originalname: string }[]> }).files?.file?.[0];
  if (!file || !file.buffer.length) throw new ValidationError('请选择要导入的对账单文件', 'statement upload without a file');
  // multer decodes the name as latin1; browsers send UTF-8 (中文文件名).
  return { name: Buffer.from(file.originalname, 'latin1').toString('utf8'), bytes: file.buffer };
}
