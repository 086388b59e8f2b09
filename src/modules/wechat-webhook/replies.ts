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
    '首次使用请先在电脑上获取证书绑定码，再在手机上绑定证书；随后可缴费、开票并在电脑上完成续期。',
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

export function keywordText(keyword: Keyword, links: ReplyLinks): string {
  switch (keyword) {
    case '绑定':
      return [
        '【绑定证书】',
        `1. 电脑插入数字证书（U-KEY），用电脑浏览器打开 ${links.pcBind} ，输入证书密码（PIN 码）获取绑定码；`,
        `2. 手机进入${a(links.bind, '数安CA管家 → 绑定证书')}，输入绑定码和介质编号后四位完成绑定。`,
      ].join('\n');
    case '续期':
      return [
        '【证书续期】',
        `1. 在${a(links.renew, '续期缴费')}选择证书并完成支付（对公汇款需等待到账核验）；`,
        `2. 电脑插入 U-KEY，用电脑浏览器打开 ${links.pcRenew} ，输入证书密码后点击“续期”，提示制证成功即完成。续期过程中请勿拔出 U-KEY。`,
      ].join('\n');
    case '缴费':
      return [
        '【续期缴费】',
        `支持微信支付和对公汇款，请进入${a(links.renew, '续期缴费')}。`,
        '对公汇款时备注只能填写订单上的 6 位验证码，请勿填写其他内容；不支持财政账户汇款，须由单位账户汇款。',
      ].join('\n');
    case '发票':
      return `【电子发票】进入${a(links.invoices, '我的发票')}，勾选已支付的业务单，填写抬头、税号和邮箱后开票；在“开票历史”中可复制发票链接下载。`;
    case '证书':
      return `【我的数字证书】进入${a(links.certs, '我的数字证书')}查看已绑定证书及有效期。`;
    case '人工':
      return `正在为您转接人工客服，请稍候。客服工作时间：工作日 9:00–18:00；也可拨打客服热线 ${BRAND.hotline}。`;
  }
}

const KEYWORDS: Keyword[] = ['绑定', '续期', '缴费', '发票', '证书', '人工'];

/** Finds the first keyword in a user's text (people type whole sentences: “怎么续期？”). */
export function matchKeyword(content: string): Keyword | undefined {
  const trimmed = content.trim();
  if (/^(客服|转人工)$/.test(trimmed)) return '人工';
  return KEYWORDS.find((k) => trimmed.includes(k));
}
