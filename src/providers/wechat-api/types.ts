/** What the app needs from the WeChat API. The real client speaks HTTPS to WECHAT_API_BASE; nothing else implements it. */
export interface WechatUserInfo {
  subscribe: 0 | 1;
  openid: string;
  unionid?: string;
  subscribe_time?: number;
  subscribe_scene?: string;
  qr_scene_str?: string;
}

export interface OAuthIdentity {
  openid: string;
  unionid?: string;
  scope: string;
  /** 朋友圈快照页 users get a virtual openid: they may read, never bind, pay or invoice. */
  isSnapshotUser: boolean;
}

export interface QrCodeTicket {
  ticket: string;
  /** Absent for permanent codes. */
  expireSeconds?: number;
  /** The content the QR image encodes. */
  url: string;
  /** WeChat's own image address for the ticket (showqrcode). */
  imageUrl: string;
}

export interface TemplateMessage {
  touser: string;
  template_id: string;
  url?: string;
  data: Record<string, { value: string }>;
  /** WeChat drops a second send with the same id: makes retries safe. */
  client_msg_id?: string;
}

/** 订阅通知 (bizsend): one send per acceptance of a one-time subscription; `page` is the web page it opens. */
export interface SubscribeMessage {
  touser: string;
  template_id: string;
  page?: string;
  data: Record<string, { value: string }>;
}

export interface WechatApi {
  /** A valid access_token, cached in the shared store and refreshed by one instance at a time. */
  getAccessToken(): Promise<string>;
  /** The JS-SDK's jsapi_ticket (for wx.config signatures), cached and refreshed like the access_token. */
  getJsapiTicket(): Promise<string>;
  getUserInfo(openid: string): Promise<WechatUserInfo>;
  /** user/info/batchget: up to 100 users in one call (an openid WeChat does not know fails the whole call: 40003). */
  getUserInfoBatch(openids: string[]): Promise<WechatUserInfo[]>;
  createMenu(menu: unknown): Promise<void>;
  createQrCode(scene: string, opts?: { permanent?: boolean; expireSeconds?: number }): Promise<QrCodeTicket>;
  sendCustomerServiceText(openid: string, text: string): Promise<void>;
  sendTemplateMessage(message: TemplateMessage): Promise<{ msgid: string }>;
  /** message/subscribe/bizsend; 43101 when the user has no acceptance left for the template. */
  sendSubscribeMessage(message: SubscribeMessage): Promise<void>;
  /** snsapi_base code exchange; a code works once (40163 after). */
  exchangeOAuthCode(code: string): Promise<OAuthIdentity>;
}
