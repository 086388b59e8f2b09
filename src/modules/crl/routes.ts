import Router from '@koa/router';
import { type Deps } from '../../deps';
import { BuiltInCa } from '../../providers/ca/sandbox';

/**
 * `GET /crl/<name>.crl`: the built-in sandbox CA's CRLs (DER, application/pkix-crl, RFC 5280 §4.2.1.13), the
 * URL its certificates name as CRL distribution point. Only with the built-in CA: in production the CA behind
 * the RA publishes its own CRLs, and this router is not mounted (the path answers 404).
 */
export function crlRoutes(deps: Deps): Router | undefined {
  const ca = deps.ca;
  if (!(ca instanceof BuiltInCa)) return undefined;
  const router = new Router();
  router.get('/crl/:file', async (ctx) => {
    const match = /^([a-z0-9-]{1,32})\.crl$/.exec(ctx.params.file);
    const crl = match ? await ca.crl(match[1]) : undefined;
    if (!crl) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'no such CRL';
      return;
    }
    ctx.type = 'application/pkix-crl';
    // Relying parties may cache it for an hour: a revocation shows within the hour, and nextUpdate is days away.
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('Last-Modified', crl.thisUpdate.toUTCString());
    ctx.body = Buffer.from(crl.der);
  });
  return router;
}
