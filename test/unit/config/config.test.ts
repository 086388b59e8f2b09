import { buildConfig } from '../../../src/config';
import { generateSandboxSecrets } from '../../../src/config/sandbox-secrets';
import { parseSettings } from '../../../src/config/settings';
import { settingsProblems } from '../../helpers/settings';

const sandbox = generateSandboxSecrets();
const REAL = {
  WECHAT_APPID: 'wx1234567890abcdef',
  WECHAT_APPSECRET: 'abcdefghijklmnopqrstuvwxyz012345',
  WECHAT_TOKEN: 'testtoken123',
  WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const PRODUCTION = {
  ...REAL,
  APP_ENV: 'production',
  PUBLIC_BASE_URL: 'https://ca.example.cn',
  DATABASE_URL: 'mysql://cam:pw@db:3306/cam',
  REDIS_URL: 'redis://cache:6379/0',
  SESSION_SECRET: 's'.repeat(40),
  METRICS_TOKEN: 'm'.repeat(20),
  TRUST_PROXY: 'true',
  CA_RA_BASE_URL: 'https://ra.example.cn/api',
  CA_RA_CLIENT_ID: 'cam',
  CA_RA_SECRET: 'r'.repeat(40),
  CA_TRUSTED_ROOTS_FILE: '/etc/cam/ca-roots.pem',
  TENCENTCLOUD_SECRET_ID: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
  TENCENTCLOUD_SECRET_KEY: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
  FACEID_RULE_ID: '1',
  PII_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  PII_HMAC_KEY: Buffer.alloc(32, 2).toString('base64'),
  RENEWAL_AUDIT_KEY: Buffer.alloc(32, 3).toString('base64'),
  WECHATPAY_MCHID: '1900007291',
  WECHATPAY_SERIAL_NO: '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC',
  WECHATPAY_PRIVATE_KEY_FILE: '/etc/cam/apiclient_key.pem',
  WECHATPAY_APIV3_KEY: 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb',
  WECHATPAY_PUBLIC_KEY_FILE: '/etc/cam/pub_key.pem',
  WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0114232134912410000000000000',
  WECHATPAY_NOTIFY_URL: 'https://ca.example.cn/pay/wechat/notify',
  TRANSFER_PAYEE_NAME: '广东数安时代科技股份有限公司',
  TRANSFER_PAYEE_BANK: '中国建设银行广州天河支行',
  TRANSFER_PAYEE_ACCOUNT: '44050110000000000001',
  NUONUO_APP_KEY: 'nuonuoappkey01',
  NUONUO_APP_SECRET: 'nuonuo-app-secret-0123',
  NUONUO_ACCESS_TOKEN: 'nuonuo-access-token-0123',
  NUONUO_CLERK: '王开票',
  INVOICE_SELLER_NAME: '广东数安时代科技股份有限公司',
  INVOICE_SELLER_TAX_ID: '91440101MA5CYQ8X3X',
  SMTP_HOST: 'smtp.example.cn',
  SMTP_FROM: '数安发票 <invoice@example.cn>',
};

const problemsOf = settingsProblems;

describe('settings and configuration', () => {
  it('When nothing is set, then the embedded default runs in sandbox mode on port 3000', () => {
    const config = buildConfig(parseSettings({}), sandbox);
    expect(config).toMatchObject({ port: 3000, database: { kind: 'sqlite' }, cache: { kind: 'memory' }, wechat: { mode: 'sandbox', appId: sandbox.wechatAppId } });
    expect(config.wechat.encodingAesKey).toBe(sandbox.wechatEncodingAesKey);
    expect(config.wechat.apiBase).toBe('http://127.0.0.1:3000/sandbox/wechat-api');
  });

  it('When production has every real setting, then it builds a frozen real configuration', () => {
    const config = buildConfig(parseSettings(PRODUCTION));
    expect(config).toMatchObject({ isProduction: true, secureCookies: true, database: { kind: 'mysql' }, cache: { kind: 'redis' }, wechat: { mode: 'real', apiBase: 'https://api.weixin.qq.com' } });
    expect(Object.isFrozen(config.wechat)).toBe(true);
    expect(() => {
      (config.wechat as { appId: string }).appId = 'x';
    }).toThrow(TypeError);
  });

  it('When production lacks settings, then the start stops naming every one of them', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production', WECHAT_APPID: REAL.WECHAT_APPID })));
    for (const name of ['TRUST_PROXY', 'DATABASE_URL', 'REDIS_URL', 'SESSION_SECRET', 'WECHAT_APPSECRET', 'WECHAT_TOKEN', 'WECHAT_ENCODING_AES_KEY', 'PUBLIC_BASE_URL', 'METRICS_TOKEN', 'CA_RA_BASE_URL', 'CA_TRUSTED_ROOTS_FILE']) {
      expect(problems.join('\n')).toContain(name);
    }
  });

  it('When production has nothing set, then every problem is named once', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production' })));
    expect(problems.length).toBeGreaterThan(20);
    expect(new Set(problems).size).toBe(problems.length);
    expect(problems.filter((p) => p.startsWith('SESSION_SECRET:'))).toEqual(['SESSION_SECRET: required when APP_ENV=production']);
  });

  it('When production lacks the renewal audit key, then the start names it; outside production one is derived and the grace period defaults to 7 days', () => {
    const { RENEWAL_AUDIT_KEY: _omitted, ...noKey } = PRODUCTION;
    expect(problemsOf(() => buildConfig(parseSettings(noKey)))).toEqual(['RENEWAL_AUDIT_KEY: required when APP_ENV=production']);
    const dev = buildConfig(parseSettings({}), sandbox);
    expect(Buffer.from(dev.renewals.auditKeySeed, 'base64')).toHaveLength(32);
    expect(dev.renewals.supersededGraceDays).toBe(7);
  });

  it('When the 对公汇款 payee is missing in production or half set elsewhere, then the start names it; unset outside production, a marked sandbox payee is used', () => {
    const { TRANSFER_PAYEE_ACCOUNT: _omitted, ...noAccount } = PRODUCTION;
    expect(problemsOf(() => buildConfig(parseSettings(noAccount)))).toEqual(['TRANSFER_PAYEE_ACCOUNT: required when APP_ENV=production']);
    expect(problemsOf(() => buildConfig(parseSettings({ TRANSFER_PAYEE_NAME: '广东数安时代科技股份有限公司' }), sandbox)).join()).toContain('TRANSFER_PAYEE_ACCOUNT: missing while other TRANSFER_PAYEE_*');
    expect(problemsOf(() => parseSettings({ TRANSFER_PAYEE_ACCOUNT: 'IBAN-123' })).join()).toContain('TRANSFER_PAYEE_ACCOUNT');
    expect(buildConfig(parseSettings(PRODUCTION)).transfer).toEqual({ payeeName: '广东数安时代科技股份有限公司', payeeBank: '中国建设银行广州天河支行', payeeAccount: '44050110000000000001', sandbox: false });
    expect(buildConfig(parseSettings({}), sandbox).transfer).toMatchObject({ payeeName: '广东数安时代科技股份有限公司', sandbox: true });
  });

  it('When production is served over http, then the start stops', () => {
    expect(problemsOf(() => buildConfig(parseSettings({ ...PRODUCTION, PUBLIC_BASE_URL: 'http://ca.example.cn' }))).join()).toContain('PUBLIC_BASE_URL');
  });

  it('When production points a WeChat or WeChat Pay client at http://, then the start stops naming the setting', () => {
    const plain = { WECHAT_API_BASE: 'http://api.example.cn', WECHAT_OAUTH_BASE: 'http://open.example.cn', WECHATPAY_API_BASE: 'http://pay.example.cn' };
    expect(problemsOf(() => buildConfig(parseSettings({ ...PRODUCTION, ...plain }))).sort()).toEqual([
      'WECHATPAY_API_BASE: must be https:// when APP_ENV=production',
      'WECHAT_API_BASE: must be https:// when APP_ENV=production',
      'WECHAT_OAUTH_BASE: must be https:// when APP_ENV=production',
    ]);
    expect(buildConfig(parseSettings({ ...PRODUCTION, WECHAT_API_BASE: 'https://api.example.cn' })).wechat.apiBase).toBe('https://api.example.cn');
    // Loopback never leaves the host (an egress proxy beside the app).
    expect(buildConfig(parseSettings({ ...PRODUCTION, WECHAT_API_BASE: 'http://127.0.0.1:8080' })).wechat.apiBase).toBe('http://127.0.0.1:8080');
    expect(buildConfig(parseSettings({ WECHAT_API_BASE: plain.WECHAT_API_BASE }), sandbox).wechat.apiBase).toBe('http://api.example.cn');
  });

  it('When TRUST_PROXY_HOPS is unset, then one proxy hop is trusted; a value that is not 1-5 stops the start', () => {
    expect(buildConfig(parseSettings(PRODUCTION)).trustProxyHops).toBe(1);
    expect(buildConfig(parseSettings({ ...PRODUCTION, TRUST_PROXY_HOPS: '2' })).trustProxyHops).toBe(2);
    expect(problemsOf(() => parseSettings({ TRUST_PROXY_HOPS: '0' })).join()).toContain('TRUST_PROXY_HOPS');
  });

  it('When a WeChat setting name has a typo, then the start stops instead of falling back to the sandbox', () => {
    const { WECHAT_APPSECRET, ...rest } = REAL;
    const problems = problemsOf(() => parseSettings({ ...rest, WECHAT_APPSECERT: WECHAT_APPSECRET }));
    expect(problems.join()).toContain('WECHAT_APPSECERT: unknown setting');
  });

  it('When only part of the WeChat identity is set outside production, then the start stops naming what is missing', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ WECHAT_APPID: REAL.WECHAT_APPID }), sandbox));
    expect(problems.join()).toContain('WECHAT_APPSECRET');
    expect(problems.join()).toContain('WECHAT_TOKEN');
  });

  it('When values are malformed, then each bad setting is named', () => {
    const problems = problemsOf(() => parseSettings({ PORT: 'eighty', DATABASE_URL: 'postgres://x', WECHAT_ENCODING_AES_KEY: 'short', LOG_LEVEL: 'loud' }));
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'WECHAT_ENCODING_AES_KEY']);
  });

  it('When safe mode is not configured, then the config has no AES key (plain mode)', () => {
    const { WECHAT_ENCODING_AES_KEY: _k, ...plain } = REAL;
    expect(buildConfig(parseSettings(plain), sandbox).wechat.encodingAesKey).toBeUndefined();
  });

  it('When the WeChat identity is absent outside production, then sandbox mode is decided once in config.sandbox; a real identity or production turns it off', () => {
    expect(buildConfig(parseSettings({}), sandbox)).toMatchObject({ sandbox: true, wechat: { mode: 'sandbox' } });
    expect(buildConfig(parseSettings(REAL), sandbox)).toMatchObject({ sandbox: false, wechat: { mode: 'real' } });
    expect(buildConfig(parseSettings(PRODUCTION)).sandbox).toBe(false);
  });

  it('When WECHAT_API_BASE is set, then the real client is pointed there', () => {
    expect(buildConfig(parseSettings({ ...REAL, WECHAT_API_BASE: 'http://127.0.0.1:9999/' }), sandbox).wechat.apiBase).toBe('http://127.0.0.1:9999');
  });
});

describe('console settings (issue 12)', () => {
  it('When nothing is set outside production, then the console listens on PORT+1 with 15-minute idle and 8-hour sessions', () => {
    const config = buildConfig(parseSettings({ PORT: '3100' }), sandbox);
    expect(config.console).toMatchObject({ port: 3101, portDefaulted: true, origin: 'http://localhost:3101', idleMs: 15 * 60_000, absoluteMs: 8 * 3_600_000, ipAllowlist: [] });
  });

  it('When production sets no ADMIN_PORT, then no console runs; with one, its address must be https', () => {
    expect(buildConfig(parseSettings(PRODUCTION), undefined).console.port).toBeUndefined();
    expect(problemsOf(() => buildConfig(parseSettings({ ...PRODUCTION, ADMIN_PORT: '8443' }), undefined)).join('\n')).toMatch(/^ADMIN_BASE_URL: must be the console's https:\/\//m);
    const config = buildConfig(parseSettings({ ...PRODUCTION, ADMIN_PORT: '8443', ADMIN_BASE_URL: 'https://console.ca.internal', ADMIN_TRUSTED_PROXY: '10.0.0.5' }), undefined);
    expect(config.console).toMatchObject({ port: 8443, secureCookies: true, trustedProxy: '10.0.0.5' });
  });

  it('When ADMIN_PORT equals PORT, or the allow-list or proxy is not made of addresses, then the start is refused', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ PORT: '3000', ADMIN_PORT: '3000', ADMIN_IP_ALLOWLIST: '10.0.0.0/8, intranet, 10.1.0.0/40' }), sandbox)).join('\n');
    expect(problems).toContain('ADMIN_PORT: must differ from PORT');
    expect(problems).toContain('"intranet" is not an IP address or CIDR');
    expect(problems).toContain('"10.1.0.0/40": prefix length must be 0-32');
    expect(problemsOf(() => parseSettings({ ADMIN_TRUSTED_PROXY: 'proxy.local' })).join('\n')).toContain('ADMIN_TRUSTED_PROXY');
  });
});
