import { type Clock } from '../../src/lib/clock';
import {
  createTestBackend, type SandboxWechatServer, startInstance, startSandboxWechat, TEST_WECHAT, type TestBackendHandle, type TestInstance,
} from './harness';

export interface TestAppOptions {
  /**
   * Start a sandbox WeChat API on loopback and configure the instance as a real (non-sandbox) WeChat account
   * talking to it: TEST_WECHAT plus WECHAT_API_BASE. `env` is applied on top of that.
   */
  wechat?: boolean;
  env?: Record<string, string | undefined>;
  clock?: Clock;
  /** As startInstance: jobs run unless this is false. */
  startJobs?: boolean;
}

export interface TestApp {
  readonly handle: TestBackendHandle;
  readonly instance: TestInstance;
  /** Only with `wechat: true`. */
  readonly sandbox: SandboxWechatServer;
}

/** Read inside tests and hooks only: the values exist once this file's beforeAll has run. */
function ready<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`useTestApp: ${name} is not set up (read it inside a test or hook, and check that beforeAll succeeded)`);
  return value;
}

/**
 * One isolated backend and one app instance for the enclosing describe block (or file), optionally with a sandbox
 * WeChat API: registers the beforeAll / afterAll the integration tests all wrote by hand. Setup order: backend,
 * sandbox WeChat, instance; teardown in reverse. Teardown skips what setup never reached, so a failed beforeAll
 * still releases the schema and the listening sandbox.
 */
export function useTestApp(opts: TestAppOptions = {}): TestApp {
  let handle: TestBackendHandle | undefined;
  let sandbox: SandboxWechatServer | undefined;
  let instance: TestInstance | undefined;

  beforeAll(async () => {
    handle = await createTestBackend();
    if (opts.wechat) sandbox = await startSandboxWechat();
    const env = sandbox ? { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, ...opts.env } : opts.env;
    instance = await startInstance(handle, { env, clock: opts.clock, startJobs: opts.startJobs });
  });
  afterAll(async () => {
    await instance?.close();
    await sandbox?.close();
    await handle?.drop();
  });

  return {
    get handle() {
      return ready(handle, 'handle');
    },
    get instance() {
      return ready(instance, 'instance');
    },
    get sandbox() {
      if (!opts.wechat) throw new Error('useTestApp: no sandbox WeChat without { wechat: true }');
      return ready(sandbox, 'sandbox');
    },
  };
}
