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
  kind: 'customer_service' | 'template' | 'subscribe';
  body: unknown;
}

/** A title saved in the user's WeChat (我 → 设置 → 我的发票抬头), as chooseInvoiceTitle hands it over. type '0' 单位, '1' 个人. */
export interface SandboxInvoiceTitle {
  type: '0' | '1';
  title: string;
  taxNumber: string;
  companyAddress: string;
  telephone: string;
  bankName: string;
  bankAccount: string;
}

/** What every sandbox user has saved unless a test says otherwise: a made-up organisation with a valid 统一社会信用代码. */
export const SANDBOX_SAVED_INVOICE_TITLE: SandboxInvoiceTitle = {
  type: '0', title: '梅州市测试抬头科技有限公司', taxNumber: '91441400MA4UU2H23W', companyAddress: '广东省梅州市梅江区彬芳大道 1 号',
  telephone: '0753-2188888', bankName: '中国工商银行梅州分行', bankAccount: '2007020109200123456',
};

export class SandboxWechatState {
  readonly users = new Map<string, SandboxUser>();
  readonly calls: SandboxCall[] = [];
  readonly outbox: SandboxOutgoingMessage[] = [];
  private readonly oauthCodes = new Map<string, { openid: string; expiresAt: number; snapshot: boolean }>();
  /** Tests set these to make the next calls fail like WeChat does (e.g. { 'cgi-bin/user/info': [45009] }). */
  readonly injectedErrors = new Map<string, number[]>();
  /** Daily call limits per endpoint (tests set one to see 45009 come from a counter, as in production). */
  readonly dailyQuotas = new Map<string, number>();
  private readonly dailyUsed = new Map<string, number>();
  /** access_token → expiry (ms); 0 once revoked by a force_refresh. */
  private readonly accessTokens = new Map<string, number>();
  private currentToken?: string;
  /** The menu last published through menu/create. */
  menu?: unknown;
  readonly qrTickets = new Map<string, { scene: string; permanent: boolean; expiresAt?: number }>();
  private readonly templateMsgIds = new Map<string, string>();
  /** jsapi_ticket → expiry (ms), as getticket handed them out; wx.config signatures are checked against these. */
  private readonly jsapiTickets = new Map<string, number>();
  private currentJsapiTicket?: string;
  /** Titles saved in WeChat per openid; a user with no entry has SANDBOX_SAVED_INVOICE_TITLE. */
  readonly invoiceTitles = new Map<string, SandboxInvoiceTitle[]>();
  /** One-time 订阅通知 acceptances not used yet, per `openid|template_id` (the popup grants one, bizsend uses one). */
  private readonly subscribeGrants = new Map<string, number>();
  // Above 2^53 on purpose: the client must keep WeChat's msgids exact.
  private nextMsgId = 3_000_000_000_000_000_001n;

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

  nowMs(): number {
    return this.now();
  }

  /**
   * stable_token as WeChat runs it: the normal mode returns the current token while more than 5 minutes are
   * left (a new one in the last 5, the old staying valid until it expires); force_refresh revokes every token.
   */
  issueAccessToken(force: boolean): { token: string; expiresIn: number } {
    const now = this.now();
    const current = this.currentToken ? this.accessTokens.get(this.currentToken) ?? 0 : 0;
    if (!force && this.currentToken && current - now > 5 * 60_000) return { token: this.currentToken, expiresIn: Math.floor((current - now) / 1000) };
    if (force) for (const token of this.accessTokens.keys()) this.accessTokens.set(token, 0);
    const token = randomBytes(48).toString('base64url');
    this.accessTokens.set(token, now + 7200_000);
    this.currentToken = token;
    return { token, expiresIn: 7200 };
  }

  /** 0 when the token is good; otherwise WeChat's errcode (41001 missing, 40001 unknown or revoked, 42001 expired). */
  checkAccessToken(token: string | undefined): 0 | 40001 | 41001 | 42001 {
    if (!token) return 41001;
    const expiresAt = this.accessTokens.get(token);
    if (!expiresAt) return 40001;
    return expiresAt <= this.now() ? 42001 : 0;
  }

  /** Tests: every token issued so far is now past its expiry (calls answer 42001). */
  expireAccessTokens(): void {
    for (const [token, expiresAt] of this.accessTokens) if (expiresAt) this.accessTokens.set(token, this.now() - 1);
  }

  /** Tests: as if someone else force-refreshed this account (calls answer 40001, the next fetch gets a new token). */
  revokeAccessTokens(): void {
    for (const token of this.accessTokens.keys()) this.accessTokens.set(token, 0);
    this.currentToken = undefined;
  }

  /** How many times stable_token was called (optionally only forced or only normal ones). */
  tokenFetches(opts: { force?: boolean } = {}): number {
    return this.calls.filter((c) => c.api === 'cgi-bin/stable_token' && (opts.force === undefined || (c.request as { force_refresh?: boolean }).force_refresh === opts.force)).length;
  }

  callsTo(api: string): SandboxCall[] {
    return this.calls.filter((c) => c.api === api);
  }

  /** Counts one call against the endpoint's daily quota (Beijing day); false when it is used up (45009). */
  takeDailyQuota(api: string): boolean {
    const limit = this.dailyQuotas.get(api);
    if (limit === undefined) return true;
    const key = `${new Date(this.now() + 8 * 3600_000).toISOString().slice(0, 10)}|${api}`;
    const used = (this.dailyUsed.get(key) ?? 0) + 1;
    this.dailyUsed.set(key, used);
    return used <= limit;
  }

  /** A new msgid, or the first one again for a repeated client_msg_id (WeChat sends that message once). */
  templateMsgId(clientMsgId: string | undefined): { msgid: string; duplicate: boolean } {
    const seen = clientMsgId ? this.templateMsgIds.get(clientMsgId) : undefined;
    if (seen) return { msgid: seen, duplicate: true };
    const msgid = String(this.nextMsgId++);
    if (clientMsgId) this.templateMsgIds.set(clientMsgId, msgid);
    return { msgid, duplicate: false };
  }

  /** getticket as WeChat runs it: the same ticket while it has more than 5 minutes left, then a new one (the old one still valid until it expires). */
  issueJsapiTicket(): { ticket: string; expiresIn: number } {
    const now = this.now();
    const current = this.currentJsapiTicket ? this.jsapiTickets.get(this.currentJsapiTicket) ?? 0 : 0;
    if (this.currentJsapiTicket && current - now > 5 * 60_000) return { ticket: this.currentJsapiTicket, expiresIn: Math.floor((current - now) / 1000) };
    const ticket = `sandbox_${randomBytes(60).toString('base64url')}`;
    this.jsapiTickets.set(ticket, now + 7200_000);
    this.currentJsapiTicket = ticket;
    return { ticket, expiresIn: 7200 };
  }

  /** Every jsapi_ticket that has not expired: a wx.config signature made with any of them passes. */
  liveJsapiTickets(): string[] {
    return [...this.jsapiTickets].filter(([, expiresAt]) => expiresAt > this.now()).map(([ticket]) => ticket);
  }

  invoiceTitlesOf(openid: string): SandboxInvoiceTitle[] {
    return this.invoiceTitles.get(openid) ?? [SANDBOX_SAVED_INVOICE_TITLE];
  }

  /** The user tapped 允许 (accept) or 取消 (reject) in the subscribe popup: an accept grants one bizsend. */
  answerSubscribePopup(openid: string, templateId: string, accept: boolean): void {
    this.ensureUser(openid);
    const key = `${openid}|${templateId}`;
    if (accept) this.subscribeGrants.set(key, (this.subscribeGrants.get(key) ?? 0) + 1);
  }

  /** bizsend uses one acceptance; false (WeChat: 43101) when there is none. */
  takeSubscribeGrant(openid: string, templateId: string): boolean {
    const key = `${openid}|${templateId}`;
    const left = this.subscribeGrants.get(key) ?? 0;
    if (left <= 0) return false;
    this.subscribeGrants.set(key, left - 1);
    return true;
  }

  messagesTo(openid: string): SandboxOutgoingMessage[] {
    return this.outbox.filter((m) => m.openid === openid);
  }
}
