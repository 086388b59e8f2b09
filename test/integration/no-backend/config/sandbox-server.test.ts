import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { besideSandboxServer } from '../../../../src/cli/bootstrap';
import { recordSandboxServer, runningSandboxServerPort } from '../../../../src/config/sandbox-server';

/** Commands find the sandbox server of their DATA_DIR (its sandbox WeChat takes their notices). */
describe('the sandbox server a command runs beside', () => {
  it('When the sandbox server of the DATA_DIR runs on another port, then a command without PORT uses that port', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-server-'));
    expect(besideSandboxServer({ DATA_DIR: dir })).toEqual({ DATA_DIR: dir });
    recordSandboxServer(dir, 3100); // this very process stands for the running server
    expect(runningSandboxServerPort(dir)).toBe(3100);
    expect(besideSandboxServer({ DATA_DIR: dir })).toEqual({ DATA_DIR: dir, PORT: '3100' });
  });

  it('When PORT or WECHAT_API_BASE is given, or in production, then the command keeps its own settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-server-'));
    recordSandboxServer(dir, 3100);
    for (const env of [{ DATA_DIR: dir, PORT: '3200' }, { DATA_DIR: dir, WECHAT_API_BASE: 'http://127.0.0.1:9/sandbox' }, { DATA_DIR: dir, APP_ENV: 'production' }]) {
      expect(besideSandboxServer(env)).toEqual(env);
    }
  });

  it('When the recorded server has exited or the record is damaged, then it is ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-server-'));
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    writeFileSync(join(dir, 'sandbox-server.json'), JSON.stringify({ port: 3100, pid: exited }));
    expect(runningSandboxServerPort(dir)).toBeUndefined();
    writeFileSync(join(dir, 'sandbox-server.json'), '{not json');
    expect(runningSandboxServerPort(dir)).toBeUndefined();
  });
});
