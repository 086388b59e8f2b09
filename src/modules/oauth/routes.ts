import Router from '@koa/router';
import { type Deps } from '../../deps';
import { pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { OAuthService, safeTarget } from './service';

/**
 * /oauth/login?next=/h5/…  starts a login explicitly (links from messages may use it);
 * /oauth/callback          is WeChat's redirect_uri;
 * /MP_verify_<code>.txt    proves domain ownership to WeChat (网页授权域名), only when configured.
 * Query strings here carry OAuth codes: they are never logged (the request log writes the path only).
 */
export function oauthRoutes(deps: Deps, _render: RenderPage): Router {
  const router = new Router();
  const oauth = new OAuthService(deps);

  router.get('/oauth/login', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(await oauth.begin(ctx, safeTarget(ctx.query.next)));
  });

  // The address carries the OAuth code and state: no Referer from it (an error page here loads our stylesheet).
  router.get('/oauth/callback', pagePolicy({ noReferrer: true }), async (ctx) => {
    const { code, state } = ctx.query;
    const { redirect } = await oauth.complete(ctx, code, state);
    ctx.set('Cache-Control', 'no-store');
    // The target was checked when stored; check again so no path can ever send the user off-site.
    ctx.redirect(redirect.startsWith('/') ? safeTarget(redirect) : redirect);
  });

  const verifyCode = deps.config.wechat.mpVerifyCode;
  if (verifyCode) {
    router.get(`/MP_verify_${verifyCode}.txt`, (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = verifyCode;
    });
  }

  return router;
}
