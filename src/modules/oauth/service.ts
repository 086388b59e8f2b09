import type Koa from 'koa';
import { type Deps } from '../../deps';
import { ForbiddenError, type UpstreamError, ValidationError } from '../../lib/errors';
import { randomToken } from '../../lib/clock';
import { openidTail } from '../../lib/logger';

/**
 * WeChat OAuth (snsapi_base): the only way an H5 page learns who the user is. The openid lives in the
 * server-side session; the cookie carries only the signed session id.
 */
export interface WechatUser {
  openid: string;
  unionid?: string;
  /** 朋友圈快照页: WeChat gives a virtual openid; the user may read but never bind, pay or invoice. */
  isSnapshotUser: boolean;
  loggedInAt: number;
}

interface PendingLogin {
  target: string;
  /** How many times WeChat refused the code for this login (40163/40029) and we asked again. */
  retries: number;
  expiresAt: number;
}

/** What this module keeps in the session. */
interface OAuthSession {
  wechatUser?: WechatUser;
  /** One entry per OAuth round trip in flight, keyed by its `state` (several tabs may log in at once). */
  oauthPending?: Record<string, PendingLogin>;
}

export const HOME_PATH = '/h5/';
const STATE_LENGTH = 32;
const STATE_TTL_MS = 10 * 60_000;
const MAX_PENDING = 5;
/** A refused code is retried with a fresh authorize at most this often, so a broken exchange never loops. */
export const MAX_CODE_RETRIES = 2;
/** WeChat's codes for a code that cannot be exchanged: already used, or invalid/expired. */
const RETRYABLE_CODE_ERRORS = new Set([40163, 40029]);

function sessionOf(ctx: Koa.Context): OAuthSession {
  const session = (ctx as unknown as { session?: OAuthSession | null | false }).session;
  if (!session) throw new Error('session middleware is not mounted before the OAuth routes');
  return session;
}

export function currentWechatUser(ctx: Koa.Context): WechatUser | undefined {
  return sessionOf(ctx).wechatUser;
}

/**
 * The redirect target after login: only a same-site path under /h5/. Anything else (absolute URLs,
 * protocol-relative `//host`, backslashes that browsers read as slashes, control characters) becomes the home.
 */
export function safeTarget(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 512) return HOME_PATH;
  if (!raw.startsWith('/') || raw.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(raw)) return HOME_PATH;
  let url: URL;
  try {
    url = new URL(raw, 'http://same-site.invalid');
  } catch {
    return HOME_PATH;
  }
  if (url.origin !== 'http://same-site.invalid') return HOME_PATH;
  if (url.pathname !== '/h5' && !url.pathname.startsWith(HOME_PATH)) return HOME_PATH;
  return `${url.pathname}${url.search}`;
}


export class OAuthService {
  constructor(private readonly deps: Pick<Deps, 'config' | 'logger' | 'clock' | 'random' | 'wechatApi'>) {}

  get callbackUrl(): string {
    return `${this.deps.config.publicBaseUrl}/oauth/callback`;
  }

  /** WeChat's authorize address; the parameter order is WeChat's own (it is picky about it). */
  authorizeUrl(state: string): string {
    const { appId, oauthAuthorizeUrl } = this.deps.config.wechat;
    const query = [
      `appid=${encodeURIComponent(appId)}`,
      `redirect_uri=${encodeURIComponent(this.callbackUrl)}`,
      'response_type=code',
      'scope=snsapi_base',
      `state=${encodeURIComponent(state)}`,
    ].join('&');
    return `${oauthAuthorizeUrl}?${query}#wechat_redirect`;
  }

  /** Starts a login: remembers where to return, binds a fresh single-use state to the session, returns the authorize URL. */
  begin(ctx: Koa.Context, target: string, retries = 0): string {
    const session = sessionOf(ctx);
    const now = this.deps.clock.nowMs();
    const pending: Record<string, PendingLogin> = {};
    // Keep the newest few unexpired round trips; an abandoned tab must not grow the session forever.
    const kept = Object.entries(session.oauthPending ?? {})
      .filter(([, p]) => p.expiresAt > now)
      .sort(([, a], [, b]) => b.expiresAt - a.expiresAt)
      .slice(0, MAX_PENDING - 1);
    for (const [state, p] of kept) pending[state] = p;
    const state = randomToken(this.deps.random, STATE_LENGTH);
    pending[state] = { target: safeTarget(target), retries, expiresAt: now + STATE_TTL_MS };
    session.oauthPending = pending;
    return this.authorizeUrl(state);
  }

  /**
   * Finishes a login at /oauth/callback. Returns where to send the browser: the stored target, or (when
   * WeChat refused the code as used or invalid) a fresh authorize URL, at most MAX_CODE_RETRIES times.
   */
  async complete(ctx: Koa.Context, code: unknown, state: unknown): Promise<{ redirect: string; retried: boolean }> {
    const session = sessionOf(ctx);
    const pending = typeof state === 'string' ? session.oauthPending?.[state] : undefined;
    if (!pending || pending.expiresAt <= this.deps.clock.nowMs()) {
      // Usual causes: cookies lost between the two legs (another browser), a stale or forged link.
      throw new ForbiddenError('登录校验失败，请关闭页面后从公众号菜单重新进入', `oauth state ${pending ? 'expired' : 'unknown to this session'}`);
    }
    // Single use: the state is spent before anything else can fail.
    delete session.oauthPending![state as string];
    if (typeof code !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(code)) {
      throw new ValidationError('未获得微信授权，请从公众号菜单重新进入', 'oauth callback without a usable code');
    }

    let identity;
    try {
      identity = await this.deps.wechatApi.exchangeOAuthCode(code);
    } catch (err) {
      const errcode = Number((err as UpstreamError).upstreamCode);
      if (RETRYABLE_CODE_ERRORS.has(errcode) && pending.retries < MAX_CODE_RETRIES) {
        // A reused code usually means the user pressed back or WeChat replayed the redirect: ask again, quietly.
        this.deps.logger.warn({ errcode, retry: pending.retries + 1 }, 'oauth code refused by WeChat, authorizing again');
        return { redirect: this.begin(ctx, pending.target, pending.retries + 1), retried: true };
      }
      throw err;
    }

    const remaining = session.oauthPending;
    const user: WechatUser = {
      openid: identity.openid,
      unionid: identity.unionid,
      isSnapshotUser: identity.isSnapshotUser,
      loggedInAt: this.deps.clock.nowMs(),
    };
    // A new session id on login, so an id planted before login (session fixation) is worth nothing after it.
    const full = ctx.session as unknown as { regenerate(): Promise<void> | undefined } & OAuthSession;
    full.wechatUser = user;
    full.oauthPending = remaining && Object.keys(remaining).length ? remaining : undefined;
    await full.regenerate();
    this.deps.logger.info({ openid: openidTail(user.openid), snapshot: user.isSnapshotUser, scope: identity.scope }, 'oauth login');
    return { redirect: pending.target, retried: false };
  }
}
