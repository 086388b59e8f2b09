import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSandboxSecrets } from '../../../../src/config/sandbox-secrets';

describe('sandbox secrets', () => {
  it('When DATA_DIR is new, then secrets are generated and the same ones are read back next time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const first = ensureSandboxSecrets(dir);
    expect(Buffer.from(first.caKeyEncryptionKey, 'base64')).toHaveLength(32);
    expect(ensureSandboxSecrets(dir)).toEqual(first);
  });

  it('When the file comes from an older version without the CA key, then the key is added and every old secret is kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const old = { wechatAppId: 'wxabcdefabcdefabcd', wechatAppSecret: 's'.repeat(32), wechatToken: 't'.repeat(32), wechatEncodingAesKey: 'k'.repeat(43), sessionSecret: 'x'.repeat(43) };
    writeFileSync(join(dir, 'sandbox-secrets.json'), JSON.stringify(old));
    const upgraded = ensureSandboxSecrets(dir);
    expect(upgraded).toMatchObject(old);
    expect(Buffer.from(upgraded.caKeyEncryptionKey, 'base64')).toHaveLength(32);
    expect(JSON.parse(readFileSync(join(dir, 'sandbox-secrets.json'), 'utf8'))).toEqual(upgraded);
  });
});
