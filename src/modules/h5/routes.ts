import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { BindingRepository } from '../binding/repository';
import { certificateServiceFor } from '../certificates/service';
import { toCard } from '../certificates/view-model';
import { LegacyRestoreService, restoredText } from '../legacy-bindings/service';
import { requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { renewalAddress, renewalViewsOf } from '../renewals/phone-view';

/** The tiles of the H5 home: each feature is served by its own module. */
export interface H5Feature {
  key: 'bind' | 'certs' | 'renew' | 'orders' | 'invoices';
  path: string;
  label: string;
  desc: string;
  color: string;
  icon: string;
}

const svg = (body: string) => `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;

export const H5_FEATURES: readonly H5Feature[] = [
  {
    key: 'bind', path: '/h5/bind', label: '绑定证书', desc: '输入绑定码完成绑定', color: '#07c160',
    icon: svg('<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>'),
  },
  {
    key: 'certs', path: '/h5/certs', label: '我的数字证书', desc: '查看证书及有效期', color: '#10aeff',
    icon: svg('<rect x="3" y="4" width="18" height="13" rx="2"/><path d="M7 9h6M7 12h4"/><circle cx="16.5" cy="15.5" r="2.5"/><path d="M15 17.5 14.5 21l2-1 2 1-.5-3.5"/>'),
  },
  {
    key: 'renew', path: '/h5/renew', label: '续期缴费', desc: '微信支付或对公汇款', color: '#fa9d3b',
    icon: svg('<path d="M20 12a8 8 0 1 1-2.3-5.6"/><path d="M20 4v4h-4"/><path d="M9.5 9.5 12 12l2.5-2.5M12 12v5M9.5 14h5"/>'),
  },
  {
    key: 'orders', path: '/h5/orders', label: '我的订单', desc: '支付状态与汇款信息', color: '#2fb5a8',
    icon: svg('<rect x="5" y="3" width="14" height="18" rx="2"/><path d="M9 8h6M9 12h6M9 16h4"/>'),
  },
  {
    key: 'invoices', path: '/h5/invoices', label: '我的发票', desc: '开具与下载电子发票', color: '#6467f0',
    icon: svg('<path d="M6 3h12v18l-3-2-3 2-3-2-3 2z"/><path d="M9 8h6M9 12h6M9 16h3"/>'),
  },
];

/**
 * The journey in the seed's order (三 → 五), shown on the home page so nobody has to read the PDF. The binding
 * and renewal addresses are shown (and can be copied): they are typed into a PC's browser.
 */
interface JourneyStep { text: string; where: string; address?: string }
function journeySteps(publicBaseUrl: string): JourneyStep[] {
  return [
    { text: '在电脑上插入 U-KEY，用电脑浏览器打开证书绑定网址，获取证书绑定码', where: '电脑 · 证书绑定网址', address: `${publicBaseUrl}/capc/` },
    { text: '在本页面「绑定证书」输入绑定码和介质编号后四位', where: '手机 · 数安CA管家' },
    { text: '首次办理完成经办人活体认证，选择证书「续期缴费」', where: '手机 · 微信支付或对公汇款' },
    { text: '支付完成后在电脑上插入 U-KEY，用电脑浏览器打开续期网址完成制证', where: '电脑 · 证书续期网址', address: renewalAddress(publicBaseUrl) },
  ];
}

/**
 * The H5 app inside WeChat. Every /h5/ page goes through WeChat OAuth first (requireWechatUser).
 * `GET /` is a small landing for people who open the site outside WeChat (and, in sandbox mode, newcomers).
 */
export function h5Routes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const sandbox = deps.config.sandbox;

  const page = (ctx: Koa.Context, template: string, data: Record<string, unknown>) => {
    ctx.type = 'html';
    // Pages show the user's own data: never cached by WeChat's browser or a proxy.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(template, { sandbox, ...data });
  };

  router.get('/', (ctx) => page(ctx, 'landing.njk', { title: '数安CA管家' }));
  // The router ignores trailing slashes, so this route also sees /h5/: only the bare /h5 is redirected.
  router.get('/h5', (ctx, next) => (ctx.path === '/h5' ? ctx.redirect('/h5/') : next()));

  const rules = certificateServiceFor(deps).rules;
  const bindings = new BindingRepository();
  const legacy = new LegacyRestoreService(deps);
  router.get('/h5/', auth, async (ctx) => {
    const user = wechatUserOf(ctx);
    const now = new Date(deps.clock.nowMs());
    // 待办事项: bound certificates inside their project's renewal window, the nearest deadline first.
    const mine = await bindings.certificatesOf(deps.db.manager, user.openid, { includeSandbox: sandbox });
    // A paid one is still to do, on the PC: 已缴费 · 请在电脑上续期 with the address, not 去续期 (pay again).
    const { paid } = await renewalViewsOf(deps.db.manager, mine.map((b) => b.certificate.id));
    const todos = mine
      .map((b) => ({ ...toCard(b.certificate, rules, now), paid: paid.get(b.certificate.id) }))
      .filter((c) => c.renewal.state === 'open' || c.paid)
      .sort((a, b) => a.renewal.daysToDeadline - b.renewal.daysToDeadline);
    const restored = await legacy.noticeFor(user.openid, { unionid: user.unionid, isSnapshotUser: user.isSnapshotUser });
    page(ctx, 'h5/home.njk', {
      title: '数安CA管家', user, features: H5_FEATURES, steps: journeySteps(deps.config.publicBaseUrl), todos, renewalUrl: renewalAddress(deps.config.publicBaseUrl), restoredNotice: restored ? restoredText(restored.restoredCount) : undefined,
    });
  });

  return router;
}
