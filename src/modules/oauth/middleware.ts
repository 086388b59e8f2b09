import type Koa from 'koa';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors';
import { type OAuthService, type WechatUser } from './service';

declare module 'koa' {
  interface DefaultState {
    /** Set by requireWechatUser on every /h5/ request. */
    wechatUser?: WechatUser;
  }
}

/**
 * Every /h5/ page goes through this: with an openid in the session it continues, otherwise a GET is sent
 * through WeChat OAuth and comes back to the same path. Other methods cannot be replayed after a redirect,
 * so they get a 401 page asking the user to reopen the page.
 */
export function requireWechatUser(oauth: OAuthService): Koa.Middleware {
  return async (ctx, next) => {
    const user = oauth.currentUser(ctx);
    if (user) {
      ctx.state.wechatUser = user;
      return next();
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new UnauthorizedError('登录已失效，请从公众号菜单重新进入', `no wechat user in session for ${ctx.method}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(await oauth.begin(ctx, ctx.originalUrl));
  };
}

/** The user on this request; only valid behind requireWechatUser. */
export function wechatUserOf(ctx: Koa.Context): WechatUser {
  const user = ctx.state.wechatUser;
  if (!user) throw new UnauthorizedError('登录已失效，请从公众号菜单重新进入', 'wechatUserOf called without requireWechatUser');
  return user;
}

/** Throws for snapshot users (朋友圈快照页): they may look, never bind, pay or invoice. */
export function assertRealUser(user: WechatUser): void {
  if (user.isSnapshotUser) throw new ForbiddenError('请在微信中打开公众号后操作', 'snapshot (virtual openid) user tried an action');
}

/** Route guard for actions (bind, pay, invoice); mount after requireWechatUser. */
export function requireRealUser(): Koa.Middleware {
  return async (ctx, next) => {
    assertRealUser(wechatUserOf(ctx));
    return next();
  };
}
