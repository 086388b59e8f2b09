import Router from '@koa/router';
import type Koa from 'koa';
import QRCode from 'qrcode';
import { type Deps } from '../../deps';
import { KEY_AGENT_MIN_PROTOCOL_FOR_RENEWAL } from '../../lib/key-agent-versions';
import { ValidationError } from '../../lib/errors';
import { pagePolicy } from '../../lib/http/security-headers';
import { CSS_TYPE, JS_TYPE, staticAssets } from '../../lib/http/static-assets';
import { type RenderPage } from '../../lib/views';
import { QR_OPTIONS } from '../capc/service';
import { ensurePcSession } from '../renewals/pc-session';

/**
 * The PC renewal page, `GET /gdca-page/redirect?busyType=8`: the address the 续期 reply, the H5 home and the 支付成功
 * page send people to (GDCA's own address for the business, kept as is). Other busyType values are businesses we do
 * not run: a page says so, with the hotline. The page drives the key agent and the renewal API (src/modules/renewals,
 * docs/renewal.md) from public/gdca/renew.js; this module only serves it, its assets and the payment QR code.
 */
export const RENEWAL_BUSY_TYPE = '8';
export const RENEWAL_PAGE_PATH = '/gdca-page/redirect';
/** Where GDCA's client (which carries the key agent) is downloaded; the same as /capc/'s guidance. */
const CLIENT_DOWNLOAD_URL = 'https://www.gdca.com.cn/customer_service/download/client/GDCA4.3.3/';
/** Phones and WeChat's in-app browser: the page needs a U-KEY plugged into a PC (as /capc/). */
const PHONE_BROWSER = /Mobile|Android|iPhone|iPad|HarmonyOS|MicroMessenger/i;
const QR_URL_MAX = 512;

/** public/gdca/: the page's script and stylesheet. */
export function renewalPageAssets(deps: Pick<Deps, 'config'>): { middleware: Koa.Middleware; version: string } {
  return staticAssets({ folder: 'gdca', files: { 'renew.js': JS_TYPE, 'renew.css': CSS_TYPE }, reread: deps.config.env === 'development' });
}

/**
 * `versions.capc`: of /capc/'s stylesheet, which this page's layout (capc/layout.njk) links; `keyAgentClient`: of
 * the key agent's browser client (public/shared/) the page's script uses.
 */
export function renewalPageRoutes(deps: Deps, render: RenderPage, versions: { capc: string; gdca: string; keyAgentClient: string }): Router {
  const router = new Router();
  const { config } = deps;
  const siteOrigin = new URL(config.publicBaseUrl).origin;
  const renewUrl = `${config.publicBaseUrl}${RENEWAL_PAGE_PATH}?busyType=${RENEWAL_BUSY_TYPE}`;
  const common = { sandbox: config.sandbox, siteOrigin, renewUrl, assetVersion: versions.capc, gdcaVersion: versions.gdca, keyAgentClientVersion: versions.keyAgentClient };
  // As /capc/: the site's policy plus connections to the key agent; no style attributes on the page.
  const policy = pagePolicy({ connect: [new URL(config.certificates.keyAgentUrl).origin], styleAttributes: false });

  router.get(RENEWAL_PAGE_PATH, policy, async (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    const busyType = typeof ctx.query.busyType === 'string' ? ctx.query.busyType.trim() : '';
    if (busyType !== RENEWAL_BUSY_TYPE) {
      ctx.body = render('gdca/unsupported.njk', { ...common, title: '暂不支持该业务 - 数安CA管家', heading: '业务办理', busyType: busyType.slice(0, 16) });
      return;
    }
    // The API's CSRF token lives in the PC session (cam.pc) the page route creates.
    const session = await ensurePcSession(ctx, deps);
    ctx.body = render('gdca/renew.njk', {
      ...common, title: '数字证书在线续期 - 数安CA管家', heading: '证书续期', csrfToken: session.csrf,
      agentUrl: config.certificates.keyAgentUrl, minProtocol: KEY_AGENT_MIN_PROTOCOL_FOR_RENEWAL, downloadUrl: CLIENT_DOWNLOAD_URL,
      phone: PHONE_BROWSER.test(ctx.get('User-Agent')),
    });
  });

  // The QR code of the lookup's payUrl (续期缴费 on the phone). Only this site's own addresses are drawn, so the
  // endpoint cannot be used to make QR codes that send people elsewhere under our name.
  router.get('/gdca-page/pay-qr.png', async (ctx) => {
    const url = typeof ctx.query.u === 'string' ? ctx.query.u : '';
    if (!url || url.length > QR_URL_MAX || !url.startsWith(`${config.publicBaseUrl}/`)) {
      throw new ValidationError('二维码地址不正确', `pay-qr for ${JSON.stringify(url.slice(0, 100))} (not under ${config.publicBaseUrl})`);
    }
    ctx.type = 'image/png';
    ctx.set('Cache-Control', 'private, max-age=600');
    ctx.body = await QRCode.toBuffer(url, { ...QR_OPTIONS, scale: 5 });
  });

  return router;
}
