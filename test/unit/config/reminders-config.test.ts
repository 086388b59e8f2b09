import { buildConfig } from '../../../src/config';
import { generateSandboxSecrets } from '../../../src/config/sandbox-secrets';
import { parseSettings } from '../../../src/config/settings';
import { settingsProblems } from '../../helpers/settings';

const sandbox = generateSandboxSecrets();
const REAL = {
  WECHAT_APPID: 'wx1234567890abcdef', WECHAT_APPSECRET: 'abcdefghijklmnopqrstuvwxyz012345', WECHAT_TOKEN: 'testtoken123',
  WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

describe('reminder and SMS settings', () => {
  it('When nothing is set, then the sandbox ids stand in, the run starts at 9 (China time) at 20 sends per second, and SMS go to the sandbox outbox', () => {
    const config = buildConfig(parseSettings({}), sandbox);
    expect(config.reminders).toEqual({ hour: 9, sendsPerSecond: 20, templateId: 'sandbox-tpl-expiry-reminder', subscribeTemplateId: 'sandbox-sub-expiry-reminder' });
    expect(config.sms).toMatchObject({ mode: 'sandbox' });
  });

  it('When a real WeChat account has no reminder template set, then that channel is off (no made-up id)', () => {
    const config = buildConfig(parseSettings({ ...REAL, REMINDER_HOUR: '8' }), sandbox);
    expect(config.reminders).toMatchObject({ hour: 8, templateId: undefined, subscribeTemplateId: undefined });
  });

  it('When SMS_SDK_APP_ID is set alone, then the start stops naming the sign and both templates; with them the Tencent credentials are used', () => {
    const problems = settingsProblems(() => buildConfig(parseSettings({ SMS_SDK_APP_ID: '1400000001' }), sandbox));
    expect(problems).toEqual(expect.arrayContaining([
      'SMS_SIGN_NAME: required with SMS_SDK_APP_ID', 'SMS_TEMPLATE_EXPIRY_RENEW: required with SMS_SDK_APP_ID', 'SMS_TEMPLATE_EXPIRY_PAID: required with SMS_SDK_APP_ID',
      'SMS_SECRET_ID: required with SMS_SDK_APP_ID (or TENCENTCLOUD_SECRET_ID)',
    ]));
    const config = buildConfig(parseSettings({
      SMS_SDK_APP_ID: '1400000001', SMS_SIGN_NAME: '数安CA管家', SMS_TEMPLATE_EXPIRY_RENEW: '200001', SMS_TEMPLATE_EXPIRY_PAID: '200002',
      SMS_SECRET_ID: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE', SMS_SECRET_KEY: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
    }), sandbox);
    expect(config.sms).toMatchObject({ mode: 'real', region: 'ap-guangzhou', apiBase: 'https://sms.tencentcloudapi.com', templates: { renew: '200001', paid: '200002' } });
  });

  it('When the hour or the pace is out of range, then the start stops naming it', () => {
    const problems = settingsProblems(() => parseSettings({ REMINDER_HOUR: '24', REMINDER_SENDS_PER_SECOND: '0' }));
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['REMINDER_HOUR', 'REMINDER_SENDS_PER_SECOND']);
  });
});
