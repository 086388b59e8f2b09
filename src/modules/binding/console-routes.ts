import koaMulter from '@koa/multer';
import Router from '@koa/router';
import type Koa from 'koa';
import { MulterError } from 'multer';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { AppError, ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { requireRole } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { ConsoleCertificateSearch } from '../certificates/console-search';
import { importLegacyBindings } from '../legacy-bindings/import-service';
import { parseLegacyFile } from '../legacy-bindings/importer';
import { CertificateBindingEntity } from './entities';
import { BindingRepository } from './repository';

/**
 * 绑定与经办人 in the console (客服): find who is bound to which certificate (by certificate keys, organisation
 * prefix or openid) with the handlers' verification and 经办人授权, unbind with a reason (audited, before/after), and
 * upload the old mini program's bindings (what `npm run import:legacy` does).
 */
const UPLOAD_MAX_BYTES = 20 * 1024 * 1024;
const SHOWN_REJECTIONS = 100;

async function uploadedFile(ctx: Koa.Context): Promise<{ name: string; bytes: Buffer }> {
  if (!ctx.is('multipart')) throw new ValidationError('请通过页面上的表单上传文件', 'legacy import is not multipart');
  const middleware = koaMulter({ storage: koaMulter.memoryStorage(), limits: { fileSize: UPLOAD_MAX_BYTES, files: 1, fields: 5, parts: 6 } }).fields([{ name: 'file', maxCount: 1 }]);
  try {
    await middleware(ctx, async () => undefined);
  } catch (err) {
    if (err instanceof MulterError && err.code === 'LIMIT_FILE_SIZE') throw new PayloadTooLargeError(`文件不能超过 ${UPLOAD_MAX_BYTES / 1024 / 1024} MB；更大的文件请用 npm run import:legacy`, 'legacy upload too large');
    if (err instanceof AppError) throw err;
    throw new ValidationError('上传失败，请重新选择文件', `legacy upload: ${(err as Error).message}`);
  }
  const file = (ctx as unknown as { files?: Record<string, { originalname: string; buffer: Buffer }[]> }).files?.file?.[0];
  if (!file || file.buffer.length === 0) throw new ValidationError('请选择要导入的 CSV 文件', 'legacy upload without a file');
  return { name: file.originalname.slice(-100), bytes: file.buffer };
}

function bindingRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const support = requireRole('support');
  const audit = consoleAudit(deps);
  const search = new ConsoleCertificateSearch(deps);
  const bindings = new BindingRepository();

  router.get('/bindings', support, async (ctx) => {
    const paging = parsePage(ctx.query);
    const query = { q: String(ctx.query.q ?? '').trim(), org: String(ctx.query.org ?? '').trim() };
    const certs = await search.certificates(query, paging.page, paging.pageSize);
    const rows = [
      ...(await search.bindings({ certificateIds: certs.rows.map((c) => c.id) })),
      ...(query.q ? await search.bindings({ openid: query.q }) : []),
    ].filter((b, i, all) => all.findIndex((x) => x.id === b.id) === i);
    // An openid's bindings bring their certificates into the list too (the search itself matched none of their keys).
    const certificates = [...certs.rows, ...rows.flatMap((b) => (b.certificate ? [b.certificate] : []))].filter((c, i, all) => all.findIndex((x) => x.id === c.id) === i);
    const people = await search.handlers([...new Set(rows.map((b) => b.openid))], certificates);
    ctx.body = render('console/bindings/list.njk', {
      query, searched: !!(query.q || query.org), certificates, bindings: rows, ...people,
      pages: pagerOf(paging, certs.total, '/bindings', query), notice: ctx.query.done ? String(ctx.query.done) : null,
    });
  });

  router.post('/bindings/:id/unbind', support, async (ctx) => {
    const id = Number(ctx.params.id);
    const form = await readConsoleForm(ctx);
    const why = (form.reason ?? '').trim();
    if (why.length < 4 || why.length > 200) throw new ValidationError('请填写解除绑定的原因（4-200 字）', 'unbind without a reason');
    const at = new Date(deps.clock.nowMs());
    const before = await inTransaction(deps.db, async (tx) => {
      const row = Number.isSafeInteger(id) ? await tx.findOne(CertificateBindingEntity, { where: { id } }) : null;
      if (!row) throw new NotFoundError('没有这条绑定', `binding ${ctx.params.id}`);
      if (!(await bindings.unbind(tx, row.certificateId, row.openid, at))) throw new ConflictError('该绑定已解除', `binding ${id} not active`);
      return row;
    });
    await audit.record(ctx, {
      action: 'binding.unbind', subject: `binding:${id}`, before: { active: true, certificateId: before.certificateId, openid: before.openid, source: before.source },
      after: { active: false, unboundAt: at.toISOString() }, detail: { reason: why },
    });
    ctx.redirect(`/bindings?q=${encodeURIComponent(String(form.back ?? before.openid))}&done=${encodeURIComponent(`绑定 #${id} 已解除`)}`);
  });

  router.get('/bindings/import', support, (ctx) => {
    ctx.body = render('console/bindings/import.njk', { summary: null, maxMb: UPLOAD_MAX_BYTES / 1024 / 1024 });
  });

  router.post('/bindings/import', support, async (ctx) => {
    const file = await uploadedFile(ctx);
    const parsed = parseLegacyFile(file.bytes, file.name);
    const summary = await importLegacyBindings(deps, parsed);
    await audit.record(ctx, { action: 'legacy.import', subject: `legacy-file:${file.name}`, after: summary, detail: { bytes: file.bytes.length } });
    ctx.body = render('console/bindings/import.njk', {
      summary, file: file.name, ignoredColumns: parsed.ignoredColumns, rejected: parsed.rejected.slice(0, SHOWN_REJECTIONS),
      moreRejected: Math.max(0, parsed.rejected.length - SHOWN_REJECTIONS), maxMb: UPLOAD_MAX_BYTES / 1024 / 1024,
    });
  });

  return router;
}

export const bindingsSection: ConsoleSection = {
  path: '/bindings',
  title: '绑定与经办人',
  roles: ['support'],
  routes: bindingRoutes,
};
