import { randomBytes } from 'node:crypto';
import { type InteractionKind } from './cs-window';

/**
 * The sandbox's idea of WeChat's own state: who follows, what they last did, which OAuth codes exist, and
 * every outgoing message and API call (for tests and the /dev/wechat page). Shared by the sandbox API
 * server, the sandbox OAuth page and the simulator, which together stand in for WeChat.
 */
export interface SandboxUser {
  openid: string;
  unionid: string;
  nickname: string;
  subscribed: boolean;
  subscribeTime?: number;
  qrScene?: string;
  /** Customer-service window opened by the user's last interaction (as WeChat tracks it). */
  csWindow?: { until: number; quota: number; used: number };
}

export interface SandboxCall {
  at: number;
  api: string;
  request: unknown;
  response: unknown;
}

export interface SandboxOutgoingMessage {
  at: number;
  openid: string;
  kind: 'customer_service' | 'template';
  body: unknown;
}

export class SandboxWechatState {
  readonly users = new Map<string, SandboxUser>();
  readonly calls: SandboxCall[] = [];
  readonly outbox: SandboxOutgoingMessage[] = [];
  private readonly oauthCodes = new Map<string, { openid: string; expiresAt: number; snapshot: boolean }>();
  /** Tests set these to make the next calls fail like WeChat does (e.g. { 'cgi-bin/user/info': [45009] }). */
  readonly injectedErrors = new Map<string, number[]>();

  constructor(readonly appId: string, readonly appSecret: string, private readonly now: () => number = Date.now) {}

  ensureUser(openid?: string, nickname?: string): SandboxUser {
    const id = openid ?? `o${randomBytes(14).toString('base64url')}`;
    let user = this.users.get(id);
    if (!user) {
      user = { openid: id, unionid: `u${randomBytes(14).toString('base64url')}`, nickname: nickname ?? `测试用户${this.users.size + 1}`, subscribed: false };
      this.users.set(id, user);
    }
    return user;
  }

  /** Mirrors what WeChat itself records when the user acts (follow, message, menu tap). */
  recordInteraction(openid: string, kind: InteractionKind | 'unsubscribe', scene?: string) {
    const user = this.ensureUser(openid);
    const now = this.now();
    if (kind === 'subscribe') {
      user.subscribed = true;
      user.subscribeTime = Math.floor(now / 1000);
      user.qrScene = scene;
    }
    if (kind === 'unsubscribe') {
      user.subscribed = false;
      user.csWindow = undefined;
      return;
    }
    if (kind === 'message') user.csWindow = { until: now + 48 * 3600_000, quota: 5, used: 0 };
    else if (kind !== 'view' && !(user.csWindow && user.csWindow.until - now > 60_000)) user.csWindow = { until: now + 60_000, quota: 3, used: 0 };
  }

  issueOAuthCode(openid: string, opts: { snapshot?: boolean } = {}): string {
    const code = randomBytes(16).toString('hex');
    this.oauthCodes.set(code, { openid, expiresAt: this.now() + 5 * 60_000, snapshot: opts.snapshot ?? false });
    return code;
  }

  /** A code works once and for 5 minutes, as with WeChat (40163 used, 40029 invalid). */
  redeemOAuthCode(code: string): { openid: string; snapshot: boolean } | { errcode: 40029 | 40163 } {
    const entry = this.oauthCodes.get(code);
    if (!entry) return { errcode: 40029 };
    if (entry.expiresAt === 0) return { errcode: 40163 };
    if (entry.expiresAt < this.now()) return { errcode: 40029 };
    entry.expiresAt = 0;
    return { openid: entry.openid, snapshot: entry.snapshot };
  }

  /** Pops an injected error for the endpoint, if a test queued one. */
  takeInjectedError(api: string): number | undefined {
    const queue = this.injectedErrors.get(api);
    return queue?.shift();
  }

  messagesTo(openid: string): SandboxOutgoingMessage[] {
    return this.outbox.filter((m) => m.openid === openid);
  }
}
