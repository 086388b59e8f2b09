import { buildConfig } from '../../../src/config';
import { generateSandboxSecrets } from '../../../src/config/sandbox-secrets';
import { parseSettings } from '../../../src/config/settings';
import { settingsProblems } from '../../helpers/settings';

const sandbox = generateSandboxSecrets();
const FACEID = { TENCENTCLOUD_SECRET_ID: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE', TENCENTCLOUD_SECRET_KEY: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', FACEID_RULE_ID: '12' };

const problemsOf = settingsProblems;

describe('liveness and PII settings', () => {
  it('When nothing is set, then the sandbox FaceID is used over loopback and the PII keys come from the sandbox secrets', () => {
    const config = buildConfig(parseSettings({ PORT: '4000' }), sandbox);
    expect(config.liveness).toEqual({ mode: 'sandbox', secretId: sandbox.faceidSecretId, secretKey: sandbox.faceidSecretKey, ruleId: '1', apiBase: 'http://127.0.0.1:4000/sandbox/faceid/api' });
    expect(config.pii).toEqual({ encryptionKeys: sandbox.piiEncryptionKey, hmacKey: sandbox.piiHmacKey });
  });

  it('When all FaceID settings are given, then the real client points at Tencent Cloud unless LIVENESS_API_BASE says otherwise', () => {
    expect(buildConfig(parseSettings(FACEID), sandbox).liveness).toMatchObject({ mode: 'real', ruleId: '12', apiBase: 'https://faceid.tencentcloudapi.com' });
    expect(buildConfig(parseSettings({ ...FACEID, LIVENESS_API_BASE: 'http://127.0.0.1:9/x/' }), sandbox).liveness.apiBase).toBe('http://127.0.0.1:9/x');
  });

  it('When only some FaceID settings are given, then the start stops naming the missing ones (never a silent sandbox)', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ FACEID_RULE_ID: '12' }), sandbox));
    expect(problems.join('\n')).toMatch(/TENCENTCLOUD_SECRET_ID: missing/);
    expect(problems.join('\n')).toMatch(/TENCENTCLOUD_SECRET_KEY: missing/);
  });

  it('When production lacks the FaceID or PII settings, then each is named; sandbox keys are never used there', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production' }), sandbox)).join('\n');
    for (const name of ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'FACEID_RULE_ID', 'PII_ENCRYPTION_KEY', 'PII_HMAC_KEY']) expect(problems).toContain(`${name}: required when APP_ENV=production`);
  });

  it('When a PII key is malformed, then the setting is named and the key is not echoed', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    const problems = problemsOf(() => buildConfig(parseSettings({ PII_ENCRYPTION_KEY: `k1:${short}` }), sandbox));
    expect(problems).toEqual(['PII_ENCRYPTION_KEY: key k1: must be 32 bytes, base64']);
    expect(problemsOf(() => parseSettings({ PII_HMAC_KEY: short })).join()).toMatch(/PII_HMAC_KEY: must be at least 32 bytes/);
  });

  it('When production is configured with an http LIVENESS_API_BASE, then it is refused', () => {
    const problems = problemsOf(() => buildConfig(parseSettings({ APP_ENV: 'production', ...FACEID, LIVENESS_API_BASE: 'http://faceid.example.cn' }), sandbox));
    expect(problems.join('\n')).toContain('LIVENESS_API_BASE: must be https://');
  });
});
