import { type Logger } from '../../lib/logger';
import { type SmsConfig } from './config';
import { TencentSmsSender } from './real';
import { SandboxSmsOutbox } from './sandbox';
import { type SmsSender } from './types';

/** Tencent Cloud SMS, the sandbox outbox (shown at /dev/sms), or none (production without SMS_* settings). */
export function createSmsSender(config: SmsConfig, logger: Logger, sandbox?: SandboxSmsOutbox): { sms?: SmsSender; sandbox?: SandboxSmsOutbox } {
  if (config.mode === 'real') return { sms: new TencentSmsSender(config, logger) };
  if (config.mode === 'off') return {};
  const box = sandbox ?? new SandboxSmsOutbox(config.signName);
  return { sms: box, sandbox: box };
}
