// OWNED BY HELPER (wechat-api): to be written.
import Koa from 'koa';
import { type Logger } from '../../lib/logger';
import { type SandboxWechatState } from './sandbox-state';
export function createSandboxWechatApiApp(_state: SandboxWechatState, _logger: Logger): Koa { return new Koa(); }
