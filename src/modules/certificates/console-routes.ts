import koaMulter from '@koa/multer';
import Router from '@koa/router';
import type Koa from 'koa';
import { MulterError } from 'multer';
import { type Deps } from '../../deps';
import { AppError, NotFoundError, PayloadTooLargeError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { type ApprovalKind, approvals } from '../console/approvals';
import { consoleAudit } from '../console/audit';
import { operatorOf, requireRole, requireStepUp } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { type RevocationReason } from '../../providers/ca/types';
import { ConsoleCertificateSearch } from './console-search';
import { CertificateRevocations, type CertRevokePayload, describeRevocation, EVIDENCE_MAX_BYTES, OPERATOR_REASONS, reasonLabel } from './revocation';

/**
 * 证书 in the console (客服): search, a certificate's record (bindings, what the CA says now), and revocation — a
 * four-eyes proposal (kind 'cert-revoke') with an RFC 5280 reason and the evidence of the request, executed at the CA
 * on approval. Proposing needs step-up, as does opening the evidence (it names people); both are audited.
 */
export const certRevokeKind: ApprovalKind<CertRevokePayload> = {
  kind: 'cert-revoke',
  role: 'support',
  title: '吊销证书',
  describe: describeRevocation,
  validate: async (deps, p) => void (await new CertificateRevocations(deps).validate(p)),
  execute: (deps, p) => new CertificateRevocations(deps).execute(p),
};

async function revokeForm(ctx: Koa.Context): Promise<{ fields: Record<string, string>; file: { filename: string; contentType: string; bytes: Buffer } | null }> {
  if (!ctx.is('multipart')) throw new ValidationError('请通过页面上的表单提交', 'revoke post is not multipart');
  const middleware = koaMulter({ storage: koaMulter.memoryStorage(), limits: { fileSize: EVIDENCE_MAX_BYTES, files: 1, fields: 8, fieldSize: 4096, parts: 9 } }).fields([{ name: 'evidence', maxCount: 1 }]);
  try {
    await middleware(ctx, async () => undefined);
  } catch (err) {
    if (err instanceof MulterError && err.code === 'LIMIT_FILE_SIZE') throw new PayloadTooLargeError('证明材料不能超过 5 MB', 'evidence too large');
    if (err instanceof AppError) throw err;
    throw new ValidationError('上传失败，请重新提交', `revoke upload: ${(err as Error).message}`);
  }
  const body = (ctx.request as unknown as { body?: Record<string, unknown> }).body ?? (ctx.req as unknown as { body?: Record<string, unknown> }).body ?? {};
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') fields[k] = v;
  const f = (ctx as unknown as { files?: Record<string, { originalname: string; mimetype: string; buffer: Buffer }[]> }).files?.evidence?.[0];
  return { fields, file: f && f.buffer.length ? { filename: f.originalname, contentType: f.mimetype, bytes: f.buffer } : null };
}

function certificateRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const support = requireRole('support');
  const stepUp = requireStepUp();
  const audit = consoleAudit(deps);
  const search = new ConsoleCertificateSearch(deps);
  const revocations = new CertificateRevocations(deps);
  const load = async (ctx: Koa.Context) => {
    const id = Number(ctx.params.id);
    const cert = Number.isSafeInteger(id) && id > 0 ? await search.certificate(id) : null;
    if (!cert) throw new NotFoundError('没有这张证书', `certificate ${ctx.params.id}`);
    return cert;
  };

  router.get('/certificates', support, async (ctx) => {
    const paging = parsePage(ctx.query);
    const query = { q: String(ctx.query.q ?? '').trim(), org: String(ctx.query.org ?? '').trim() };
    const found = await search.certificates(query, paging.page, paging.pageSize);
    ctx.body = render('console/certificates/list.njk', { query, searched: !!(query.q || query.org), rows: found.rows, pages: pagerOf(paging, found.total, '/certificates', query) });
  });

  router.get('/certificates/:id', support, async (ctx) => {
    const cert = await load(ctx);
    let caStatus: { status: string; revokedAt?: Date; reason?: string; error?: string };
    try {
      caStatus = await deps.ca.status(cert.serialHex);
    } catch (err) {
      caStatus = { status: 'error', error: (err as Error).message };
    }
    ctx.body = render('console/certificates/detail.njk', {
      c: cert, caStatus, caReason: caStatus.reason ? reasonLabel(caStatus.reason) : null, bindings: await search.bindings({ certificateIds: [cert.id] }),
      evidence: await revocations.evidenceOf(cert.id),
    });
  });

  router.get('/certificates/:id/revoke', support, stepUp, async (ctx) => {
    const cert = await load(ctx);
    ctx.body = render('console/certificates/revoke.njk', { c: cert, reasons: OPERATOR_REASONS, maxMb: EVIDENCE_MAX_BYTES / 1024 / 1024 });
  });

  router.post('/certificates/:id/revoke', support, stepUp, async (ctx) => {
    const cert = await load(ctx);
    const { fields, file } = await revokeForm(ctx);
    const payload: CertRevokePayload = { certificateId: cert.id, serialHex: cert.serialHex, reason: fields.reason as RevocationReason, evidenceText: (fields.evidenceText ?? '').trim(), evidenceId: null };
    await revocations.validate(payload); // before the file is stored: a refused proposal leaves nothing behind
    if (file) payload.evidenceId = await revocations.saveEvidence(cert.id, file, operatorOf(ctx).id);
    const { id } = await approvals(deps).propose(ctx, 'cert-revoke', payload, fields.why ?? '');
    ctx.redirect(`/approvals/${id}`);
  });

  router.get('/certificates/evidence/:id', support, stepUp, async (ctx) => {
    const id = Number(ctx.params.id);
    if (!Number.isSafeInteger(id) || id <= 0) throw new NotFoundError('没有这份证明材料', `evidence ${ctx.params.id}`);
    const ev = await revocations.evidence(id, `operator:${operatorOf(ctx).username}`);
    await audit.record(ctx, { action: 'evidence.view', subject: `revocation_evidence:${id}`, detail: { certificateId: ev.certificateId } });
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(ev.filename)}`);
    ctx.type = ev.contentType;
    ctx.body = ev.bytes;
  });

  return router;
}

export const certificatesSection: ConsoleSection = {
  path: '/certificates',
  title: '证书',
  roles: ['support'],
  routes: certificateRoutes,
  approvalKinds: [certRevokeKind],
};
