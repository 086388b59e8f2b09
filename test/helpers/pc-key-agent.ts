import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext } from 'playwright-core';
import { loadKeyAgentConfig } from '../../src/key-agent/config';
import { createKeyAgent, type KeyAgent } from '../../src/key-agent/create-agent';
import { launchChromium } from './browser';
import { createTestBackend, type TestBackendHandle } from './harness';
import { freePort, type ListeningInstance, startListening } from './listening';

/** What an e2e file of the PC pages (/capc/, the renewal page) runs against; `close` stops all of it. */
export interface PcKeyAgentStack {
  handle: TestBackendHandle;
  app: ListeningInstance;
  /** The in-process key agent serving the soft tokens in `tokenDir`; it accepts only `app`'s origin. */
  keyAgent: KeyAgent;
  agentPort: number;
  tokenDir: string;
  browser: Browser;
  /** The browser contexts the file opens: `close` closes them first. */
  contexts: BrowserContext[];
  close(): Promise<void>;
}

/**
 * A fresh backend, the app listening on a port, a real key agent (soft tokens in a new temporary folder) and
 * Chromium. The page must know the agent's address before the app starts, and the agent the app's origin: the
 * agent's port is picked first. `dev`: the agent's development switches (the unplug fault switch).
 */
export async function startPcKeyAgentStack(options: { tokenDirPrefix: string; dev?: boolean }): Promise<PcKeyAgentStack> {
  const stack: Partial<PcKeyAgentStack> & { contexts: BrowserContext[] } = { contexts: [] };
  const close = async () => {
    for (const c of stack.contexts) await c.close().catch(() => undefined);
    await stack.browser?.close();
    await stack.keyAgent?.close();
    await stack.app?.close();
    await stack.handle?.drop();
    if (stack.tokenDir) rmSync(stack.tokenDir, { recursive: true, force: true });
  };
  try {
    stack.handle = await createTestBackend();
    stack.agentPort = await freePort();
    stack.app = await startListening(stack.handle, { env: { KEY_AGENT_URL: `http://127.0.0.1:${stack.agentPort}` } });
    stack.tokenDir = mkdtempSync(join(tmpdir(), options.tokenDirPrefix));
    stack.keyAgent = createKeyAgent(loadKeyAgentConfig({
      KEY_AGENT_PORT: String(stack.agentPort), KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: stack.tokenDir, KEY_AGENT_ALLOWED_ORIGINS: stack.app.url,
      ...(options.dev ? { KEY_AGENT_DEV: 'true' } : {}), LOG_LEVEL: 'silent',
    }));
    await stack.keyAgent.listen();
    stack.browser = await launchChromium();
  } catch (err) {
    // What did start is stopped here: the file's afterAll has no stack to close.
    await close();
    throw err;
  }
  return { ...(stack as Omit<PcKeyAgentStack, 'close'>), close };
}
