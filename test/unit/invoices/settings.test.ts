import { buildConfig } from '../../../src/config';
import { generateSandboxSecrets } from '../../../src/config/sandbox-secrets';
import { parseSettings } from '../../../src/config/settings';
import { settingsProblems } from '../../helpers/settings';

const sandbox = generateSandboxSecrets();

describe('invoice settings', () => {
  it('When nothing is set, then the sandbox issuer and the sandbox outbox are used, with the sandbox 开票成功 template', () => {
    const config = buildConfig(parseSettings({}), sandbox);
    expect(config.einvoice).toMatchObject({ mode: 'sandbox', delayMs: 3000, failureRate: 0, pollMs: 2000 });
    expect(config.mail.mode).toBe('sandbox');
    expect(config.wechat.templates?.invoiceIssued).toBe('sandbox-tpl-invoice-issued');
  });

  it('When Nuonuo is half configured, or SMTP lacks its sender, then the start names what is missing', () => {
    expect(settingsProblems(() => buildConfig(parseSettings({ NUONUO_APP_KEY: 'appkey01' }), sandbox))).toEqual(expect.arrayContaining([
      expect.stringMatching(/^NUONUO_APP_SECRET: missing while other NUONUO_\* settings are set/),
      expect.stringMatching(/^NUONUO_CLERK: missing/),
      expect.stringMatching(/^INVOICE_SELLER_TAX_ID: missing/),
    ]));
    expect(settingsProblems(() => buildConfig(parseSettings({ SMTP_HOST: 'smtp.example.cn' }), sandbox))).toEqual(['SMTP_FROM: required with SMTP_HOST']);
    expect(settingsProblems(() => buildConfig(parseSettings({ SMTP_HOST: 'smtp.example.cn', SMTP_FROM: 'a@example.cn', SMTP_USER: 'a' }), sandbox))).toEqual(['SMTP_PASSWORD: SMTP_USER and SMTP_PASSWORD go together']);
  });

  it('When SMTP is configured, then TLS is implicit on 465 by default, or STARTTLS on 587', () => {
    expect(buildConfig(parseSettings({ SMTP_HOST: 'smtp.example.cn', SMTP_FROM: 'a@example.cn' }), sandbox).mail).toMatchObject({ mode: 'smtp', tls: 'implicit', port: 465 });
    expect(buildConfig(parseSettings({ SMTP_HOST: 'smtp.example.cn', SMTP_FROM: 'a@example.cn', SMTP_TLS: 'starttls' }), sandbox).mail).toMatchObject({ tls: 'starttls', port: 587 });
    expect(() => parseSettings({ SMTP_TLS: 'none' })).toThrow(/SMTP_TLS/);
  });
});
