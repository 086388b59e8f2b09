import type Koa from 'koa';
import { type Deps } from '../../deps';
import { ForbiddenError, type UpstreamError, ValidationError } from '../../lib/errors';
import { randomToken } from '../../lib/clock';
import { createLimiter, FailureLimit } from '../../lib/http/rate-limit';
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

/**
 * One OAuth round trip in flight, keyed by its `state`. These live in a short-lived signed cookie, not in the
 * session: a visitor without a session costs the store nothing until WeChat vouches for them (5,000 cookie-less
 * GETs used to leave 5,000 seven-day sessions behind). A spent state stays listed until it expires, so the Back
 * button after a login can be told apart from a forged or foreign state.
 */
interface PendingLogin {
  state: string;
  target: string;
  /** How many times WeChat refused the code for this login (40163/40029) and we asked again. */
  retries: number;
  expiresAt: number;
  spent?: boolean;
}

/** What this module keeps in the session: only the user, from the code exchange on. */
interface OAuthSession {
  wechatUser?: WechatUser;
}

export const HOME_PATH = '/h5/';
const STATE_LENGTH = 32;
const STATE_TTL_MS = 10 * 60_000;
/** Round trips kept per browser (several tabs may log in at once); a target is at most 512 characters, so 3 fit a cookie. */
const MAX_PENDING = 3;
const PENDING_COOKIE = 'cam.oauth';
/** A refused code is retried with a fresh authorize at most this often, so a broken exchange never loops. */
export const MAX_CODE_RETRIES = 2;
/** WeChat's codes for a code that cannot be exchanged: already used, or invalid/expired. */
const RETRYABLE_CODE_ERRORS = new Set([40163, 40029]);
/** Logins one address may start per 10 minutes: far above a shared office's, far below a flood's. */
const STARTS_PER_IP = 300;

/** One limiter per app (the memory limiter counts per instance, and every route file makes its own OAuthService). */
const startLimiters = new WeakMap<object, FailureLimit>();

function parsePending(raw: string | undefined, now: number): PendingLogin[] {
  if (!raw) return [];
  try {
    const list: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!Array.isArray(list)) return [];
    return list.filter((p): p is PendingLogin => typeof p?.state === 'string' && typeof p.target === 'string'
      && Number.isInteger(p.retries) && typeof p.expiresAt === 'number' && p.expiresAt > now);
  } catch {
    return [];
  }
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
  private readonly starts: FailureLimit;

  constructor(private readonly deps: Pick<Deps, 'config' | 'logger' | 'clock' | 'random' | 'wechatApi' | 'store'>) {
    let starts = startLimiters.get(deps.store);
    if (!starts) {
      starts = new FailureLimit(createLimiter(deps, 'oauth:start:ip', STARTS_PER_IP, 600), 'oauth start per-IP');
      startLimiters.set(deps.store, starts);
    }
    this.starts = starts;
  }

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

  /**
   * The logged-in user, or undefined. A login lasts SESSION_ABSOLUTE_HOURS however active the session is kept:
   * after that the session is dropped and the next page goes through WeChat again.
   */
  currentUser(ctx: Koa.Context): WechatUser | undefined {
    const session = (ctx as unknown as { session?: OAuthSession | null | false }).session;
    const user = session ? session.wechatUser : undefined;
    if (!user) return undefined;
    if (this.deps.clock.nowMs() - user.loggedInAt >= this.deps.config.sessionAbsoluteMs) {
      (ctx as unknown as { session: null }).session = null;
      this.deps.logger.info({ openid: openidTail(user.openid) }, 'session past its absolute lifetime, logging in again');
      return undefined;
    }
    return user;
  }

  /** Starts a login: remembers where to return and a fresh single-use state in the browser's cookie, returns the authorize URL. */
  async begin(ctx: Koa.Context, target: string): Promise<string> {
    await this.starts.spend(ctx.ip);
    return this.startRoundTrip(ctx, this.readPending(ctx), target, 0);
  }

  private readPending(ctx: Koa.Context): PendingLogin[] {
    return parsePending(ctx.cookies.get(PENDING_COOKIE, { signed: true }), this.deps.clock.nowMs());
  }

  private writePending(ctx: Koa.Context, list: PendingLogin[]): void {
    const value = list.length ? Buffer.from(JSON.stringify(list)).toString('base64url') : null;
    ctx.cookies.set(PENDING_COOKIE, value, {
      path: '/oauth', httpOnly: true, sameSite: 'lax', secure: this.deps.config.secureCookies, signed: true, maxAge: STATE_TTL_MS, overwrite: true,
    });
  }

  private startRoundTrip(ctx: Koa.Context, existing: PendingLogin[], target: string, retries: number): string {
    const now = this.deps.clock.nowMs();
    // Keep the newest few unexpired round trips; an abandoned tab must not grow the cookie forever.
    const kept = existing.filter((p) => p.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt).slice(0, MAX_PENDING - 1);
    const state = randomToken(this.deps.random, STATE_LENGTH);
    this.writePending(ctx, [...kept, { state, target: safeTarget(target), retries, expiresAt: now + STATE_TTL_MS }]);
    return this.authorizeUrl(state);
  }

  /**
   * Finishes a login at /oauth/callback. Returns where to send the browser: the stored target, or (when
   * WeChat refused the code as used or invalid) a fresh authorize URL, at most MAX_CODE_RETRIES times.
   */
  async complete(ctx: Koa.Context, code: unknown, state: unknown): Promise<{ redirect: string; retried: boolean }> {
    const list = this.readPending(ctx);
    const pending = typeof state === 'string' ? list.find((p) => p.state === state) : undefined;
    if (pending?.spent && this.currentUser(ctx)) {
      // Back to WeChat's page and the user picked again: this browser already logged in with this state, and
      // that login still holds, so it simply continues (the new code is never exchanged).
      return { redirect: pending.target, retried: false };
    }
    if (!pending || pending.spent) {
      // Usual causes: cookies lost between the two legs (another browser), a stale or forged link.
      throw new ForbiddenError('登录校验失败，请关闭页面后从公众号菜单重新进入', `oauth state ${pending ? 'already used' : 'unknown to this browser or expired'}`);
    }
    // Single use: the state is spent before anything else can fail.
    pending.spent = true;
    this.writePending(ctx, list);
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
        return { redirect: this.startRoundTrip(ctx, list, pending.target, pending.retries + 1), retried: true };
      }
      throw err;
    }

    const user: WechatUser = {
      openid: identity.openid,
      unionid: identity.unionid,
      isSnapshotUser: identity.isSnapshotUser,
      loggedInAt: this.deps.clock.nowMs(),
    };
    // The session is created here, and only here. A new session id on login, so an id planted before login
    // (session fixation) is worth nothing after it.
    const full = ctx.session as unknown as { regenerate(): Promise<void> | undefined } & OAuthSession;
    full.wechatUser = user;
    await full.regenerate();
    this.deps.logger.info({ openid: openidTail(user.openid), snapshot: user.isSnapshotUser, scope: identity.scope }, 'oauth login');
    return { redirect: pending.target, retried: false };
  }
}
