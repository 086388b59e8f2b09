import { BRAND } from '../../config/brand';

/**
 * What the account says. Links open the H5 app (through OAuth); WeChat renders <a href> in text replies.
 * Kept in one place so wording stays consistent with the menu (客户服务 → 数安CA管家).
 */
export interface ReplyLinks {
  home: string;
  bind: string;
  certs: string;
  renew: string;
  invoices: string;
  /** PC addresses, typed into a computer's browser (the U-KEY is there), so shown as text. */
  pcBind: string;
  pcRenew: string;
}

export function replyLinks(publicBaseUrl: string): ReplyLinks {
  return {
    home: `${publicBaseUrl}/h5/`,
    bind: `${publicBaseUrl}/h5/bind`,
    certs: `${publicBaseUrl}/h5/certs`,
    renew: `${publicBaseUrl}/h5/renew`,
    invoices: `${publicBaseUrl}/h5/invoices`,
    pcBind: `${publicBaseUrl}/capc/`,
    pcRenew: `${publicBaseUrl}/gdca-page/redirect?busyType=8`,
  };
}

const a = (href: string, label: string) => `<a href="${href}">${label}</a>`;

export function welcomeText(links: ReplyLinks): string {
  return [
    `欢迎关注 ${BRAND.accountName}！`,
    `数字证书在线续期：请点击菜单【客户服务】→【数安CA管家】，或直接${a(links.home, '进入数安CA管家')}。`,
    '首次使用请先在电脑上获取证书绑定码，再在手机上绑定证书；随后即可在线缴纳续期费用。',
    '回复“绑定”“续期”“缴费”“发票”“证书”查看操作指引，回复“人工”联系客服。',
  ].join('\n');
}

export function welcomeBackText(links: ReplyLinks): string {
  return `欢迎回来！办理证书续期请进入${a(links.home, '数安CA管家')}（菜单【客户服务】→【数安CA管家】）。`;
}

export function helpText(links: ReplyLinks): string {
  return [
    `您好，请通过菜单【客户服务】→【数安CA管家】办理，或${a(links.home, '点此进入')}。`,
    '回复以下关键词获取指引：绑定、续期、缴费、发票、证书、人工。',
  ].join('\n');
}

type Keyword = '绑定' | '续期' | '缴费' | '发票' | '证书' | '人工';

/** Customer service by text: the hotline, and the hours the menu and the replies name. */
const HOTLINE_TEXT = `客服热线 ${BRAND.hotline}（工作日 9:00–18:00）`;
/** 人工 when nobody staffs the customer-service desk: never "正在为您转接" without a hand-over. */
const SUPPORT_BY_PHONE = `【人工客服】请拨打${HOTLINE_TEXT}。`;

export function keywordText(keyword: Keyword, links: ReplyLinks): string {
  switch (keyword) {
    case '绑定':
      return [
        '【绑定证书】',
        `1. 电脑插入数字证书（U-KEY），用电脑浏览器打开 ${links.pcBind} ，输入证书密码（PIN 码）获取绑定码（须在电脑上打开，手机无法读取 U-KEY）；`,
        `2. 手机进入${a(links.bind, '数安CA管家 → 绑定证书')}，输入绑定码和介质编号后四位完成绑定。`,
      ].join('\n');
    case '续期':
      // 制证 is on the PC (busyType=8): the address is typed into a PC's browser with the U-KEY plugged in.
      return [
        '【证书续期】',
        `证书快到期或已过期：在${a(links.certs, '我的数字证书')}查看到期日；过期后在续期期限内仍可在线办理。`,
        `1. 绑定证书后，在${a(links.renew, '续期缴费')}选择证书并完成支付（对公汇款需等待到账核验）；`,
        `2. 支付后在电脑上插入 U-KEY，用电脑浏览器打开 ${links.pcRenew} 完成制证（续期过程中请不要拔出 U-KEY）。`,
      ].join('\n');
    case '缴费':
      return [
        '【续期缴费】',
        `支持微信支付和对公汇款，请进入${a(links.renew, '续期缴费')}。`,
        '对公汇款时备注只能填写订单上的 6 位验证码，请勿填写其他内容；不支持财政账户汇款，须由单位账户汇款。',
      ].join('\n');
    case '发票':
      // Online invoicing is not built yet: say so rather than describe a form nobody can open.
      return `【电子发票】在线开具电子发票尚未开放；如需发票，请拨打${HOTLINE_TEXT}。`;
    case '证书':
      return `【我的数字证书】进入${a(links.certs, '我的数字证书')}查看已绑定证书及有效期。`;
    case '人工':
      return SUPPORT_BY_PHONE;
  }
}

/**
 * What the 联系客服 menu item (a CLICK: WeChat never forwards events to customer service) says. When people
 * staff the customer-service desk, a text message reaches them, so the reply says to write one.
 */
export function contactSupportText(staffed: boolean): string {
  return staffed
    ? `【人工客服】请直接在对话框发送文字消息描述您的问题，客服人员会在工作时间回复；也可拨打${HOTLINE_TEXT}。`
    : SUPPORT_BY_PHONE;
}

/** A passive reply that hands the user's message to the customer-service desk (多客服: MsgType transfer_customer_service). */
export interface TransferToCustomerService {
  kind: 'transfer';
  /** Sent instead when the passive reply is missed (a deferred answer cannot transfer). */
  fallbackText: string;
}

export type Reply = string | TransferToCustomerService;

export function transferToCustomerService(): TransferToCustomerService {
  return { kind: 'transfer', fallbackText: SUPPORT_BY_PHONE };
}

/**
 * Finds what a user's text is about (people type whole sentences: “怎么续期？”, “证书快过期了怎么办”). Order
 * matters: an expiring certificate is a renewal question before it is a question about 证书.
 */
const INTENTS: ReadonlyArray<[RegExp, Keyword]> = [
  [/人工|客服/, '人工'],
  [/绑定/, '绑定'],
  [/续期|续费|到期|过期|延期|更新证书/, '续期'],
  [/缴费|付款|支付|汇款/, '缴费'],
  [/发票|开票/, '发票'],
  [/证书/, '证书'],
];

export function matchKeyword(content: string): Keyword | undefined {
  const trimmed = content.trim();
  return INTENTS.find(([pattern]) => pattern.test(trimmed))?.[1];
}
