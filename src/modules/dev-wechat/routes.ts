// OWNED BY HELPER (oauth/h5): to be written.
import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { type SandboxWechatState } from '../../providers/wechat-api/sandbox-state';
export function devWechatRoutes(_deps: Deps, _state: SandboxWechatState, _render: RenderPage): Router { return new Router(); }
