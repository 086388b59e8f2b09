import { KeyAgentError } from './errors';
import { type AnyKeyAgentMethod, type AnyKeyAgentMethods, KEY_AGENT_DEFAULT_PORT } from './protocol';

export { KeyAgentError } from './errors';

/**
 * A typed Node client of the key agent over HTTP (POST /rpc): for tests, the demo seed and scripts. A
 * protocol error comes back as a thrown KeyAgentError with the protocol's `code`, `codeName` and `data`; an
 * agent that does not answer is a KeyAgentUnavailableError.
 *
 *   const agent = new KeyAgentClient({ url: 'http://127.0.0.1:17321' });
 *   const { devices } = await agent.call('device.list');
 *   await agent.call('sign', { mediaSerial, certificateId, pin, dataBase64 });
 */
export interface KeyAgentClientOptions {
  /** Default http://127.0.0.1:17321. */
  url?: string;
  /** Sent as the Origin header, as a page would (omit to call as a local program). */
  origin?: string;
  /** Per call; default 60 s (RSA key generation on a real token is slow). */
  timeoutMs?: number;
}

export class KeyAgentUnavailableError extends Error {
  constructor(readonly url: string, options?: { cause?: unknown }) {
    super(`key agent not reachable at ${url} (is it running? npm run key-agent)`, options);
    this.name = 'KeyAgentUnavailableError';
  }
}

type Params<M extends AnyKeyAgentMethod> = AnyKeyAgentMethods[M]['params'];
type Result<M extends AnyKeyAgentMethod> = AnyKeyAgentMethods[M]['result'];
/** Methods whose params are all optional may be called without them (`{} extends P`: P has no required keys). */
type ParamsArg<M extends AnyKeyAgentMethod> = {} extends Params<M> ? [params?: Params<M>] : [params: Params<M>];

export class KeyAgentClient {
  readonly url: string;
  private readonly origin?: string;
  private readonly timeoutMs: number;
  private nextId = 1;

  constructor(options: KeyAgentClientOptions | string = {}) {
    const o = typeof options === 'string' ? { url: options } : options;
    this.url = (o.url ?? `http://127.0.0.1:${KEY_AGENT_DEFAULT_PORT}`).replace(/\/+$/, '');
    this.origin = o.origin;
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  async call<M extends AnyKeyAgentMethod>(method: M, ...[params]: ParamsArg<M>): Promise<Result<M>> {
    const id = this.nextId++;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.origin) headers.Origin = this.origin;
    let response: Response;
    try {
      response = await fetch(`${this.url}/rpc`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params: params ?? {} }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new KeyAgentUnavailableError(this.url, { cause: err });
    }
    const text = await response.text();
    let body: { id?: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`key agent answered HTTP ${response.status} with a non-JSON body: ${text.slice(0, 200)}`);
    }
    if (body.error) throw KeyAgentError.fromWire(body.error);
    if (!response.ok || !('result' in body)) throw new Error(`key agent answered HTTP ${response.status} without a result`);
    return body.result as Result<M>;
  }
}
