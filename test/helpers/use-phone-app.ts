import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { desktopContext, launchChromium, phoneContext } from './browser';
import { createTestBackend, type TestBackendHandle } from './harness';
import { type ListeningInstance, startListening } from './listening';

export interface PhoneApp {
  readonly handle: TestBackendHandle;
  readonly app: ListeningInstance;
  readonly browser: Browser;
  /** A new phone-sized context (see phoneContext), closed in afterAll. */
  phoneContext(): Promise<BrowserContext>;
  /** A page in a new phone context: a phone with no cookies yet. */
  phone(): Promise<Page>;
  /** A page in a new desktop context, closed in afterAll. */
  desktop(): Promise<Page>;
  /**
   * A new phone that opens `path`, logs in on the sandbox WeChat authorize page and is back on `path`: as the
   * test user named `user` (who must exist in the sandbox WeChat), or else as a newly created one (新建并授权).
   */
  loggedInPhone(path: string, opts?: { user?: string }): Promise<Page>;
}

/** Read inside tests and hooks only: the values exist once this file's beforeAll has run. */
function ready<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`usePhoneApp: ${name} is not set up (read it inside a test or hook, and check that beforeAll succeeded)`);
  return value;
}

/**
 * The browser tests' common ground: an isolated backend, the app listening on loopback (sandbox mode unless `env`
 * says otherwise) and one Chromium, set up in beforeAll in that order. Every context made through the returned
 * object is tracked and closed in afterAll before the browser, the app and the backend; teardown skips what setup
 * never reached and a context that fails to close does not stop the rest, so a failed beforeAll still cleans up.
 * Call jest.setTimeout before this: the hooks use the file's timeout.
 */
export function usePhoneApp(opts: { env?: Record<string, string | undefined> } = {}): PhoneApp {
  let handle: TestBackendHandle | undefined;
  let app: ListeningInstance | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    handle = await createTestBackend();
    app = await startListening(handle, { env: opts.env });
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await app?.close();
    await handle?.drop();
  });

  const tracked = async (make: (b: Browser) => Promise<BrowserContext>): Promise<BrowserContext> => {
    const ctx = await make(ready(browser, 'browser'));
    contexts.push(ctx);
    return ctx;
  };

  const self: PhoneApp = {
    get handle() {
      return ready(handle, 'handle');
    },
    get app() {
      return ready(app, 'app');
    },
    get browser() {
      return ready(browser, 'browser');
    },
    phoneContext: () => tracked(phoneContext),
    phone: async () => (await tracked(phoneContext)).newPage(),
    desktop: async () => (await tracked(desktopContext)).newPage(),
    async loggedInPhone(path, { user } = {}) {
      const page = await self.phone();
      const url = `${self.app.url}${path}`;
      await page.goto(url);
      await page.waitForURL(/\/sandbox\/wechat-oauth\/authorize\?/);
      if (user) await page.locator('button.sa-user', { hasText: user }).click();
      else await page.getByRole('button', { name: '新建并授权' }).click();
      await page.waitForURL(url);
      return page;
    },
  };
  return self;
}
