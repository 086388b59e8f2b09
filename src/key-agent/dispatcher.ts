import { type Logger } from 'pino';
import { type z } from 'zod';
import { type CertificateSubject, type KeyAlgorithm } from '../lib/pki/types';
import { type TokenBackend } from './backend';
import { type SoftTokenBackend } from './backends/soft-token';
import { agentErrors, KeyAgentError } from './errors';
import { isKnownMethod, paramSchemas } from './params';
import { type AnyKeyAgentMethod, type AnyKeyAgentMethods, type DeviceInfo, KEY_AGENT_FEATURES, KEY_AGENT_PROTOCOL_VERSION, type UnplugAt } from './protocol';

/**
 * JSON-RPC 2.0 over whatever carries it (HTTP body, WebSocket message): validates, routes each call to the
 * backend holding the device, and runs a device's calls one at a time (a token does one thing at a time, and
 * a second login would race the first). Logs the method, the serial's tail, the outcome and the time:
 * never params (PINs, data, certificates).
 */
type JsonRpcId = string | number | null;
export type JsonRpcResponse = { jsonrpc: '2.0'; id: JsonRpcId } & ({ result: unknown } | { error: { code: number; message: string; data?: unknown } });

export interface DispatcherOptions {
  backends: TokenBackend[];
  /** The soft-token backend, when enabled: dev.unplug/dev.plug act on it. */
  softTokens?: SoftTokenBackend;
  /** Exposes dev.* methods (the fault switch). */
  dev: boolean;
  logger: Logger;
  version: string;
}

export const serialTail = (mediaSerial: string) => `…${mediaSerial.slice(-4)}`;

export class Dispatcher {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: DispatcherOptions) {}

  /** A request body / message as text → the text to send back, or undefined when there is nothing to answer. */
  async handleText(text: string): Promise<string | undefined> {
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return JSON.stringify(errorResponse(null, new KeyAgentError('PARSE_ERROR', '请求不是有效的 JSON')));
    }
    const answer = await this.handle(payload);
    return answer === undefined ? undefined : JSON.stringify(answer);
  }

  /** One request or a batch. Calls of a batch run concurrently, except calls to the same device (in order). */
  async handle(payload: unknown): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
    if (!Array.isArray(payload)) return this.handleOne(payload);
    if (payload.length === 0) return errorResponse(null, new KeyAgentError('INVALID_REQUEST', '批量请求不能为空'));
    if (payload.length > 32) return errorResponse(null, new KeyAgentError('INVALID_REQUEST', '批量请求过多', undefined, `${payload.length} calls`));
    const answers = (await Promise.all(payload.map((p) => this.handleOne(p)))).filter((a): a is JsonRpcResponse => a !== undefined);
    return answers.length > 0 ? answers : undefined;
  }

  /** Calls a method directly (in-process callers: main.ts, tests), with the same validation, queueing and errors. */
  async call<M extends AnyKeyAgentMethod>(method: M, params?: AnyKeyAgentMethods[M]['params']): Promise<AnyKeyAgentMethods[M]['result']> {
    return (await this.run(method, params ?? {})) as AnyKeyAgentMethods[M]['result'];
  }

  private async handleOne(request: unknown): Promise<JsonRpcResponse | undefined> {
    if (!isRequest(request)) {
      const id = typeof request === 'object' && request !== null && isId((request as { id?: unknown }).id) ? (request as { id: JsonRpcId }).id : null;
      return errorResponse(id, new KeyAgentError('INVALID_REQUEST', '不是有效的 JSON-RPC 2.0 请求'));
    }
    const isNotification = !('id' in request);
    const id = isNotification ? null : (request.id as JsonRpcId);
    try {
      const result = await this.run(request.method, request.params);
      return isNotification ? undefined : { jsonrpc: '2.0', id, result };
    } catch (err) {
      return isNotification ? undefined : errorResponse(id, toKeyAgentError(err));
    }
  }

  private async run(method: string, rawParams: unknown): Promise<unknown> {
    const started = performance.now();
    const isDev = method.startsWith('dev.');
    if (!isKnownMethod(method) || (isDev && (!this.options.dev || !this.options.softTokens))) {
      throw new KeyAgentError('METHOD_NOT_FOUND', '密钥助手不支持该方法', { method });
    }
    const parsed = (paramSchemas[method] as z.ZodType).safeParse(rawParams ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw new KeyAgentError('INVALID_PARAMS', '请求参数不正确', { issues }, `${method}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    }
    const params = (parsed.data ?? {}) as Record<string, unknown>;
    const serial = typeof params.mediaSerial === 'string' ? params.mediaSerial : undefined;
    const log = { rpc: method, ...(serial ? { device: serialTail(serial) } : {}) };
    try {
      const result = isDev ? await this.runDev(method, params) : serial ? await this.onDevice(serial, method, params) : await this.runGlobal(method);
      // Pages poll hello/device.list while waiting for a key: those stay out of the info log.
      const level = serial || isDev ? 'info' : 'debug';
      this.options.logger[level]({ ...log, ms: Math.round(performance.now() - started) }, 'key agent call');
      return result;
    } catch (err) {
      const error = toKeyAgentError(err);
      const level = error.codeName === 'INTERNAL' ? 'error' : 'info';
      // `detail` and the cause are ours (codes, ids, serials): never params.
      this.options.logger[level]({ ...log, ms: Math.round(performance.now() - started), code: error.codeName, detail: error.detail, err: error.codeName === 'INTERNAL' ? error.cause : undefined }, 'key agent call failed');
      throw error;
    }
  }

  private async runGlobal(method: string): Promise<unknown> {
    if (method === 'agent.hello') {
      return { name: 'shuan-ca-key-agent', version: this.options.version, protocol: KEY_AGENT_PROTOCOL_VERSION, features: [...KEY_AGENT_FEATURES], backends: this.options.backends.map((b) => b.kind) };
    }
    const devices: DeviceInfo[] = [];
    for (const backend of this.options.backends) {
      try {
        devices.push(...(await backend.listDevices()));
      } catch (err) {
        // One broken driver must not hide the other backends' devices.
        this.options.logger.warn({ backend: backend.kind, err }, 'device.list: backend failed');
      }
    }
    return { devices };
  }

  private async runDev(method: string, params: Record<string, unknown>): Promise<unknown> {
    const soft = this.options.softTokens!;
    const serial = params.mediaSerial as string;
    if ((await soft.locate(serial)) === 'absent') throw agentErrors.deviceNotFound(serial);
    if (method === 'dev.unplug') soft.unplug(serial, (params.at as UnplugAt | undefined) ?? 'now');
    else soft.plug(serial);
    return { ok: true };
  }

  private onDevice(mediaSerial: string, method: string, p: Record<string, unknown>): Promise<unknown> {
    return this.serialised(mediaSerial, async () => {
      const backend = await this.backendOf(mediaSerial);
      const pin = p.pin as string;
      switch (method) {
        case 'cert.list':
          return { certificates: await backend.listCertificates(mediaSerial) };
        case 'pin.verify':
          await backend.verifyPin(mediaSerial, pin);
          return { ok: true };
        case 'sign': {
          const data = new Uint8Array(Buffer.from(p.dataBase64 as string, 'base64'));
          const { signature, algorithm } = await backend.sign(mediaSerial, pin, p.certificateId as string, data);
          return { signatureBase64: Buffer.from(signature).toString('base64'), algorithm };
        }
        case 'keygen.csr':
          return backend.keygenCsr(mediaSerial, pin, p.algorithm as KeyAlgorithm, p.subject as CertificateSubject, p.keyId as string | undefined);
        case 'cert.install':
          return backend.installCertificate(mediaSerial, pin, {
            keyId: p.keyId as string,
            certificatePem: p.certificatePem as string,
            encryptionPair: p.encryptionPair as { certificatePem: string; envelopedKeyBase64: string } | undefined,
            replacesCertificateId: p.replacesCertificateId as string | undefined,
          });
        case 'cert.confirm':
          return backend.confirmCertificate(mediaSerial, pin, p.certificateId as string);
        case 'key.remove':
          return { keyId: p.keyId as string, removed: await backend.removeKey(mediaSerial, pin, p.keyId as string) };
        default:
          throw agentErrors.internal(`no device handler for ${method}`);
      }
    });
  }

  /** The backend holding the device; a device some backend knows but cannot reach was pulled out. */
  private async backendOf(mediaSerial: string): Promise<TokenBackend> {
    let removed = false;
    for (const backend of this.options.backends) {
      const where = await backend.locate(mediaSerial);
      if (where === 'present') return backend;
      if (where === 'removed') removed = true;
    }
    throw removed ? agentErrors.deviceRemoved(mediaSerial) : agentErrors.deviceNotFound(mediaSerial);
  }

  private serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.then(() => undefined, () => undefined);
    this.queues.set(key, settled);
    void settled.then(() => this.queues.get(key) === settled && this.queues.delete(key));
    return run;
  }
}

function toKeyAgentError(err: unknown): KeyAgentError {
  return err instanceof KeyAgentError ? err : agentErrors.internal((err as Error)?.message ?? String(err), err);
}

function errorResponse(id: JsonRpcId, error: KeyAgentError): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: error.toWire() };
}

const isId = (v: unknown): v is JsonRpcId => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

function isRequest(v: unknown): v is { jsonrpc: '2.0'; method: string; id?: JsonRpcId; params?: unknown } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  if (r.jsonrpc !== '2.0' || typeof r.method !== 'string') return false;
  if ('id' in r && !isId(r.id)) return false;
  // By-name params only: every method's params are an object.
  return r.params === undefined || (typeof r.params === 'object' && r.params !== null && !Array.isArray(r.params));
}
