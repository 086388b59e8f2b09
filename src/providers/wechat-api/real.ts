// OWNED BY HELPER (wechat-api): to be written.
import { type WechatConfig } from '../../config';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { type Metrics } from '../../lib/metrics';
import { type KeyValueStore } from '../../lib/store/types';
import { type WechatApi } from './types';
export interface WechatApiClientOptions { wechat: WechatConfig; store: KeyValueStore; logger: Logger; metrics: Metrics; clock: Clock; fetch?: typeof fetch }
export function createWechatApiClient(_opts: WechatApiClientOptions): WechatApi { throw new Error('not yet written'); }
