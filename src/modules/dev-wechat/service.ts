import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { type Deps } from '../../deps';
import { ValidationError } from '../../lib/errors';
import { renderMenu } from '../../providers/wechat-api/menu';
import { type SandboxWechatState, type SandboxOutgoingMessage } from '../../providers/wechat-api/sandbox-state';
import { inboundXml, openWebhookReply, signedWebhookRequest, subscribeEventXml } from '../wechat-webhook/outbound-request';
import { SANDBOX_EXPIRY_TEMPLATE, SANDBOX_SUBSCRIBE_TEMPLATE } from '../../config/reminders';
import { parseWechatXml } from '../wechat-webhook/xml';

/**
 * The /dev/wechat simulator: a person plays WeChat. Each action becomes the XML WeChat would send, signed and
 * (in safe mode) encrypted, POSTed over HTTP to our own /wechat — the same path a real message takes.
 */
export type SimAction =
  | { kind: 'subscribe'; scene?: string }
  | { kind: 'scan'; scene: string }
  | { kind: 'unsubscribe' }
  | { kind: 'click'; key: string }
  | { kind: 'view'; url: string }
  | { kind: 'text'; content: string }
  /** The user answers the 订阅通知 popup a page's wx-open-subscribe opened (允许 / 取消). */
  | { kind: 'subscribe_popup'; templateId: string; accept: boolean };

export interface ChatEntry {
  at: number;
  from: 'user' | 'account' | 'system';
  /** Safe HTML (escaped; only http(s) links survive). */
  html: string;
}

export interface MenuButton {
  name: string;
  type?: 'click' | 'view';
  key?: string;
  url?: string;
  sub_button?: MenuButton[];
}

/** The account's original id (gh_…), as WeChat puts it in ToUserName. Any value works for our webhook. */
export const SANDBOX_ACCOUNT_ID = 'gh_sandbox0000';
const MAX_ENTRIES = 200;
// From the project root, so the compiled build (dist/src/…) finds it too.
const MENU_TEMPLATE = join(projectRoot(), 'config/menu.json');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Renders a WeChat text message as WeChat does: plain text with line breaks, where <a href> becomes a link. */
export function wechatTextHtml(text: string): string {
  const parts: string[] = [];
  const anchor = /<a\s+href=(["'])(.*?)\1\s*>(.*?)<\/a>/gi;
  let last = 0;
  for (const m of text.matchAll(anchor)) {
    parts.push(escapeHtml(text.slice(last, m.index)));
    const href = m[2];
    parts.push(/^https?:\/\//i.test(href) ? `<a href="${escapeHtml(href)}" target="_blank" rel="noopener">${escapeHtml(m[3])}</a>` : escapeHtml(m[0]));
    last = m.index + m[0].length;
  }
  parts.push(escapeHtml(text.slice(last)));
  return parts.join('').replace(/\n/g, '<br>');
}

/** Our passive reply, as the phone would show it. */
function replyHtml(xml: string): string {
  const msg = parseWechatXml(xml);
  const type = String(msg.MsgType ?? '');
  if (type === 'text') return wechatTextHtml(String(msg.Content ?? ''));
  if (type === 'transfer_customer_service') return escapeHtml('（消息已转给人工客服，客服人员将在对话框中回复）');
  if (type === 'news') return `[图文消息] ${escapeHtml(JSON.stringify(msg.Articles ?? {}).slice(0, 300))}`;
  return `[${escapeHtml(type || '未知')}消息]`;
}

function outboxHtml(m: SandboxOutgoingMessage): string {
  const body = (m.body ?? {}) as Record<string, unknown>;
  if (m.kind === 'customer_service') {
    const text = (body.text as { content?: string } | undefined)?.content;
    return text !== undefined ? wechatTextHtml(text) : `[客服消息 ${escapeHtml(String(body.msgtype ?? ''))}]`;
  }
  const data = (body.data ?? {}) as Record<string, { value?: string }>;
  const template = TEMPLATES[String(body.template_id ?? '')];
  // Label each field as WeChat would show it (the template's own labels); unknown templates keep the raw keys.
  const lines = Object.entries(data).map(([k, v]) => `${escapeHtml(template?.labels[k] ?? k)}：${escapeHtml(String(v?.value ?? ''))}`);
  // Template messages link with `url`, 订阅通知 (bizsend) with `page`.
  const link = typeof body.url === 'string' ? body.url : typeof body.page === 'string' ? body.page : '';
  const url = /^https?:\/\//.test(link) ? `<br><a href="${escapeHtml(link)}" target="_blank" rel="noopener">详情</a>` : '';
  return `<strong>${escapeHtml(template?.title ?? '模板消息')}</strong><br>${lines.join('<br>')}${url}`;
}

/** The sandbox template ids (config/index.ts) with the titles and field labels of the 类目模板 they stand for. */
const TEMPLATES: Record<string, { title: string; labels: Record<string, string> }> = {
  'sandbox-tpl-order-paid': { title: '订单支付成功', labels: { character_string1: '订单号', amount2: '金额', thing3: '商品', time4: '支付时间' } },
  'sandbox-tpl-transfer-rejected': { title: '汇款未通过', labels: { character_string1: '订单号', amount2: '金额', thing3: '原因' } },
  'sandbox-tpl-review-result': { title: '审核结果通知', labels: { thing1: '审核事项', phrase2: '审核结果', thing3: '说明', time4: '审核时间' } },
  [SANDBOX_EXPIRY_TEMPLATE]: { title: '到期提醒', labels: { thing1: '单位名称', time2: '到期日期', thing3: '温馨提示' } },
  [SANDBOX_SUBSCRIBE_TEMPLATE]: { title: '证书到期提醒（订阅通知）', labels: { thing1: '单位名称', time2: '到期日期', thing3: '温馨提示' } },
};

export class WechatSimulator {
  /** What the person did and what the account answered passively, per openid. Dev-only, in memory. */
  private readonly transcripts = new Map<string, ChatEntry[]>();

  constructor(private readonly deps: Pick<Deps, 'config' | 'logger'>, private readonly state: SandboxWechatState) {}

  /** The menu the account last published (menu/create on the sandbox API), else the one `npm run wechat:menu` would publish. */
  menu(): MenuButton[] {
    const published = (this.state.menu as { button?: unknown } | undefined)?.button;
    if (Array.isArray(published)) return published as MenuButton[];
    try {
      const template = JSON.parse(readFileSync(MENU_TEMPLATE, 'utf8')) as unknown;
      const rendered = renderMenu(template, { publicBaseUrl: this.deps.config.publicBaseUrl }) as { button?: MenuButton[] };
      return rendered.button ?? [];
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'simulator could not read config/menu.json');
      return [];
    }
  }

  /** The conversation, with messages the account sent later (customer-service, template) merged in by time. */
  conversation(openid: string): ChatEntry[] {
    const sent = this.state.messagesTo(openid).map((m) => ({ at: m.at, from: 'account' as const, html: outboxHtml(m) }));
    return [...(this.transcripts.get(openid) ?? []), ...sent].sort((a, b) => a.at - b.at);
  }

  private append(openid: string, from: ChatEntry['from'], html: string) {
    const list = this.transcripts.get(openid) ?? [];
    // Date.now(), not the injected clock: entries are merged with the sandbox outbox, which uses wall time.
    list.push({ at: Date.now(), from, html });
    if (list.length > MAX_ENTRIES) list.splice(0, list.length - MAX_ENTRIES);
    this.transcripts.set(openid, list);
  }

  private xmlFor(openid: string, action: SimAction): string {
    const base = { toUser: SANDBOX_ACCOUNT_ID, fromUser: openid, createTime: Math.floor(Date.now() / 1000) };
    const ticket = `sandbox_${randomBytes(8).toString('hex')}`;
    switch (action.kind) {
      case 'subscribe':
        return inboundXml({ ...base, msgType: 'event', Event: 'subscribe', EventKey: action.scene ? `qrscene_${action.scene}` : undefined, Ticket: action.scene ? ticket : undefined });
      case 'scan':
        return inboundXml({ ...base, msgType: 'event', Event: 'SCAN', EventKey: action.scene, Ticket: ticket });
      case 'unsubscribe':
        return inboundXml({ ...base, msgType: 'event', Event: 'unsubscribe', EventKey: '' });
      case 'click':
        return inboundXml({ ...base, msgType: 'event', Event: 'CLICK', EventKey: action.key });
      case 'view':
        return inboundXml({ ...base, msgType: 'event', Event: 'VIEW', EventKey: action.url });
      case 'text':
        return inboundXml({ ...base, msgType: 'text', Content: action.content, MsgId: String(BigInt(`0x${randomBytes(7).toString('hex')}`)) });
      case 'subscribe_popup':
        return subscribeEventXml({ ...base, event: 'subscribe_msg_popup_event', answers: [{ templateId: action.templateId, status: action.accept ? 'accept' : 'reject' }] });
    }
  }

  private describe(action: SimAction): string {
    switch (action.kind) {
      case 'subscribe': return action.scene ? `关注公众号（扫带参二维码，场景 ${action.scene}）` : '关注公众号';
      case 'scan': return `扫描带参二维码（场景 ${action.scene}）`;
      case 'unsubscribe': return '取消关注';
      case 'click': return `点击菜单（CLICK ${action.key}）`;
      case 'view': return `打开菜单网页（VIEW ${action.url}）`;
      case 'text': return action.content;
      case 'subscribe_popup': return `订阅通知弹窗：${action.accept ? '允许' : '取消'}（模板 ${action.templateId}）`;
    }
  }

  /** Acts as WeChat: records the interaction, delivers the event to /wechat, shows the passive reply. */
  async send(openid: string, action: SimAction): Promise<void> {
    if (!this.state.users.has(openid)) throw new ValidationError('请先选择或新建测试用户', `simulator: unknown sandbox user`);
    const { config } = this.deps;
    this.append(openid, action.kind === 'text' ? 'user' : 'system', escapeHtml(this.describe(action)));
    if (action.kind === 'subscribe_popup') this.state.answerSubscribePopup(openid, action.templateId, action.accept);
    else this.state.recordInteraction(openid, action.kind === 'text' ? 'message' : action.kind, action.kind === 'subscribe' || action.kind === 'scan' ? action.scene : undefined);

    const identity = { appId: config.wechat.appId, token: config.wechat.token, encodingAesKey: config.wechat.encodingAesKey };
    const request = signedWebhookRequest(identity, this.xmlFor(openid, action));
    const started = Date.now();
    let status: number;
    let body: string;
    try {
      const res = await fetch(`http://127.0.0.1:${config.port}${request.path}`, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: request.body,
        signal: AbortSignal.timeout(8000),
      });
      status = res.status;
      body = await res.text();
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'simulator could not reach /wechat');
      this.append(openid, 'system', escapeHtml(`无法连接公众号服务器（/wechat）：${(err as Error).message}`));
      return;
    }
    const ms = Date.now() - started;
    if (status !== 200) {
      this.append(openid, 'system', escapeHtml(`公众号服务器返回 HTTP ${status}（${ms} ms）`));
      return;
    }
    try {
      const reply = openWebhookReply(identity, body);
      if (!reply.signatureValid) this.append(openid, 'system', '回复的签名校验失败，微信会丢弃该回复');
      if (reply.xml === 'success' || reply.xml === '') this.append(openid, 'system', escapeHtml(`（无被动回复，${ms} ms）`));
      else this.append(openid, 'account', replyHtml(reply.xml));
    } catch (err) {
      this.append(openid, 'system', escapeHtml(`回复无法解密或解析：${(err as Error).message}`));
    }
  }
}

/** Turns the simulator form into an action; the person's input is bounded like WeChat bounds it. */
export function parseAction(form: Record<string, string>): SimAction {
  const scene = (form.scene ?? '').trim();
  if (scene && !/^[A-Za-z0-9_-]{1,64}$/.test(scene)) throw new ValidationError('场景值只能包含字母、数字、下划线或连字符（最多 64 位）', 'simulator: bad scene');
  switch (form.action) {
    case 'subscribe': return { kind: 'subscribe', scene: scene || undefined };
    case 'scan':
      if (!scene) throw new ValidationError('扫码需要填写场景值', 'simulator: scan without scene');
      return { kind: 'scan', scene };
    case 'unsubscribe': return { kind: 'unsubscribe' };
    case 'click': {
      const key = (form.key ?? '').trim();
      if (!key || key.length > 128) throw new ValidationError('请填写菜单 KEY（最多 128 位）', 'simulator: bad click key');
      return { kind: 'click', key };
    }
    case 'view': {
      const url = (form.url ?? '').trim();
      if (!/^https?:\/\//.test(url) || url.length > 1024) throw new ValidationError('请填写以 http(s):// 开头的网址', 'simulator: bad view url');
      return { kind: 'view', url };
    }
    case 'text': {
      const content = (form.content ?? '').trim();
      if (!content) throw new ValidationError('请输入消息内容', 'simulator: empty text');
      if (content.length > 600) throw new ValidationError('消息过长（最多 600 字）', 'simulator: text too long');
      return { kind: 'text', content };
    }
    case 'subscribe_popup': {
      const templateId = (form.templateId ?? '').trim();
      if (!/^[\w-]{1,64}$/.test(templateId)) throw new ValidationError('请填写订阅通知模板 ID', 'simulator: bad template id');
      return { kind: 'subscribe_popup', templateId, accept: form.decision === 'accept' };
    }
    default:
      throw new ValidationError('未知的操作', `simulator: unknown action ${String(form.action).slice(0, 20)}`);
  }
}
