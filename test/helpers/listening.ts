import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Clock } from '../../src/lib/clock';
import { type TestBackendHandle, type TestInstance, startInstance } from './harness';

/** A free loopback port. The app must know its port before it is built (sandbox apiBase, PUBLIC_BASE_URL). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface ListeningInstance extends TestInstance {
  url: string;
  server: Server;
}

/**
 * An app instance listening on 127.0.0.1 as `npm start` would: what the browser tests and the sandbox's own
 * loopback calls (/sandbox/wechat-api, the simulator's POST to /wechat) need. Without WECHAT_* settings it is in sandbox mode.
 */
export async function startListening(handle: TestBackendHandle, opts: { env?: Record<string, string | undefined>; clock?: Clock } = {}): Promise<ListeningInstance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const instance = await startInstance(handle, { clock: opts.clock, env: { PORT: String(port), HOST: '127.0.0.1', PUBLIC_BASE_URL: url, ...opts.env } });
  const server = createServer(instance.app.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    ...instance,
    url,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await instance.close();
    },
  };
}
