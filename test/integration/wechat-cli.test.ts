import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { wechatMenu } from '../../src/cli/wechat-menu';
import { wechatQrcode } from '../../src/cli/wechat-qrcode';
import { createTestBackend, type SandboxWechatServer, startSandboxWechat, TEST_WECHAT, type TestBackendHandle } from '../helpers/harness';

let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;

beforeAll(async () => {
  handle = await createTestBackend();
  sandbox = await startSandboxWechat();
});
afterAll(async () => {
  await sandbox.close();
  await handle.drop();
});

function io(extra: Record<string, string> = {}): CliIo & { lines: string[] } {
  const lines: string[] = [];
  const env = { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...handle.env, ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, ...extra };
  return { env, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

test('When wechat:qrcode runs with --out, then it prints the ticket and URLs and writes a PNG, never the secret', async () => {
  const out = join(handle.dataDir, 'qr.png');
  const cli = io();
  await wechatQrcode(cli, ['poster-2024', '--out', out]);
  const [ticket] = [...sandbox.state.qrTickets.keys()];
  const text = cli.lines.join('\n');
  expect(text).toContain(`ticket:   ${ticket}`);
  expect(text).toContain(`https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`);
  expect(text).not.toContain(TEST_WECHAT.WECHAT_APPSECRET);
  expect(readFileSync(out).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
});

test('When wechat:menu runs, then the configured menu with the public address is published', async () => {
  await wechatMenu(io({ PUBLIC_BASE_URL: 'https://ca.example.com' }), []);
  expect(JSON.stringify(sandbox.state.menu)).toContain('https://ca.example.com/oauth/login?next=/h5/certs');
});

test('When wechat:menu runs with --dry-run, then nothing is sent', async () => {
  const before = sandbox.state.callsTo('cgi-bin/menu/create').length;
  const cli = io();
  await wechatMenu(cli, ['--dry-run']);
  expect(sandbox.state.callsTo('cgi-bin/menu/create')).toHaveLength(before);
  expect(cli.lines).toContain('Dry run: nothing was sent.');
});
