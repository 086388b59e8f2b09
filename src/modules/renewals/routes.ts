import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { jsonApi, readJson } from '../capc/routes';
import { RenewalInstaller } from './install';
import { lookupCertificate } from './lookup';
import { requirePcSession } from './pc-session';
import { csrInput, emptyInput, installedInput, lookupInput, popMessageInput, startInput } from './schemas';
import { RenewalService } from './service';

/**
 * The renewal JSON API the PC page (`/gdca-page/redirect?busyType=8`) calls with fetch (docs/renewal.md): same
 * origin, JSON bodies, the `cam.pc` session and its `X-CSRF-Token`. Errors are `{ error: { code, message } }`
 * (the error middleware renders /gdca-page/api/ as JSON).
 */
export function renewalApiRoutes(deps: Deps): Router {
  const router = new Router({ prefix: '/gdca-page/api' });
  const service = new RenewalService(deps);
  const installer = new RenewalInstaller(deps, service);
  const api = jsonApi(new URL(deps.config.publicBaseUrl).origin);
  const now = () => new Date(deps.clock.nowMs());
  const idOf = (ctx: Koa.Context) => Number(ctx.params.id);

  router.post('/lookup', api, async (ctx) => {
    await requirePcSession(ctx, deps);
    const input = await readJson(ctx, lookupInput);
    ctx.body = await lookupCertificate(deps, service, input.certificatePem, now());
  });

  router.post('/renewals', api, async (ctx) => {
    const session = await requirePcSession(ctx, deps);
    const input = await readJson(ctx, startInput);
    ctx.body = await service.start(session, input, now());
  });

  router.post('/renewals/:id/pop-message', api, async (ctx) => {
    const session = await requirePcSession(ctx, deps);
    const input = await readJson(ctx, popMessageInput);
    ctx.body = await service.popMessage(idOf(ctx), session, input.csrPem);
  });

  router.post('/renewals/:id/csr', api, async (ctx) => {
    const session = await requirePcSession(ctx, deps);
    const input = await readJson(ctx, csrInput);
    ctx.body = await service.submitCsr(idOf(ctx), session, input, now());
  });

  router.post('/renewals/:id/certificate', api, async (ctx) => {
    await requirePcSession(ctx, deps);
    await readJson(ctx, emptyInput);
    ctx.body = await service.certificate(idOf(ctx));
  });

  router.post('/renewals/:id/installed', api, async (ctx) => {
    const session = await requirePcSession(ctx, deps);
    const input = await readJson(ctx, installedInput);
    ctx.body = await installer.installed(idOf(ctx), session, input.serialHex, now());
  });

  return router;
}
