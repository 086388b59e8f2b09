import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Duplex } from 'node:stream';
import { type Logger } from 'pino';
import getRawBody from 'raw-body';
import { WebSocketServer, type WebSocket } from 'ws';
import { type Dispatcher } from './dispatcher';
import { KeyAgentError } from './errors';

/**
 * The agent's HTTP face, on 127.0.0.1 only: POST /rpc and WebSocket /ws, both into the one dispatcher.
 *
 * Any page the user opens can try to reach 127.0.0.1, so every request passes two checks before anything else:
 * - Host must be 127.0.0.1:<port> or localhost:<port>. A DNS-rebinding page reaches us under its own name
 *   (Host: evil.example:17321) and is refused.
 * - Origin, when present, must be in the allow-list. Browsers always send it on POST, on CORS requests and on
 *   WebSocket handshakes; a request without one is not from a web page (our Node client, curl), and those can
 *   reach the token anyway. /rpc also demands Content-Type: application/json, which a page cannot send
 *   cross-origin without a CORS preflight, so a form post cannot slip through either.
 * Refusals are HTTP 403 with a JSON-RPC error ORIGIN_REFUSED.
 */
export interface KeyAgentServerOptions {
  dispatcher: Dispatcher;
  allowedOrigins: readonly string[];
  logger: Logger;
  /** Largest request body / WebSocket message, bytes. */
  bodyLimitBytes?: number;
  /** How long close() waits for in-flight calls before cutting connections. */
  shutdownGraceMs?: number;
}

export interface KeyAgentServer {
  readonly server: Server;
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 256 * 1024;

export function createKeyAgentServer(options: KeyAgentServerOptions): KeyAgentServer {
  const { dispatcher, logger } = options;
  const allowed = new Set(options.allowedOrigins);
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const wss = new WebSocketServer({ noServer: true, maxPayload: bodyLimit });

  /** Why a request is refused, or undefined when it may proceed. */
  const refusal = (req: IncomingMessage): 'host' | 'origin' | undefined => {
    const port = (server.address() as AddressInfo | null)?.port;
    const host = req.headers.host?.toLowerCase();
    if (!host || (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`)) return 'host';
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) return 'origin';
    return undefined;
  };
  const refusedBody = (reason: 'host' | 'origin') =>
    JSON.stringify({ jsonrpc: '2.0', id: null, error: new KeyAgentError('ORIGIN_REFUSED', '该网页无权访问密钥助手', { reason }).toWire() });
  const logRefusal = (req: IncomingMessage, reason: string) =>
    logger.warn({ reason, origin: req.headers.origin, host: req.headers.host, path: req.url?.split('?')[0] }, 'key agent request refused');

  const server = createServer((req, res) => {
    void handleHttp(req, res).catch((err) => {
      logger.error({ err }, 'key agent HTTP handler failed');
      if (!res.headersSent) sendJson(res, 500, { jsonrpc: '2.0', id: null, error: new KeyAgentError('INTERNAL', '密钥助手内部错误').toWire() });
      else res.destroy();
    });
  });
  // Key generation on a real token can take tens of seconds; headers must still come promptly.
  server.requestTimeout = 120_000;
  server.headersTimeout = 15_000;

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reason = refusal(req);
    if (reason) {
      logRefusal(req, reason);
      res.writeHead(403, { 'Content-Type': 'application/json; charset=utf-8' }).end(refusedBody(reason));
      return;
    }
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/rpc') {
      sendJson(res, 404, rpcError('INVALID_REQUEST', '没有这个地址：请用 POST /rpc 或 WebSocket /ws'));
      return;
    }
    if (req.method === 'OPTIONS') return preflight(req, res);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      sendJson(res, 405, rpcError('INVALID_REQUEST', '请用 POST'));
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      sendJson(res, 415, rpcError('INVALID_REQUEST', '请求须为 application/json'));
      return;
    }
    let text: string;
    try {
      text = await getRawBody(req, { limit: bodyLimit, length: req.headers['content-length'], encoding: 'utf8' });
    } catch (err) {
      const status = (err as { status?: number }).status ?? 400;
      sendJson(res, status === 413 ? 413 : 400, rpcError('INVALID_REQUEST', status === 413 ? `请求过大（上限 ${bodyLimit} 字节）` : '请求体读取失败'));
      return;
    }
    const answer = await dispatcher.handleText(text);
    if (answer === undefined) res.writeHead(204).end();
    else res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(answer);
  }

  /**
   * CORS preflight. Chrome's Private Network Access asks, for a public page reaching 127.0.0.1, with
   * `Access-Control-Request-Private-Network: true`; we say yes for allowed origins only (the Origin check ran).
   */
  function preflight(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.origin) {
      res.writeHead(204).end();
      return;
    }
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    res.setHeader('Access-Control-Max-Age', '600');
    res.setHeader('Vary', 'Origin, Access-Control-Request-Headers, Access-Control-Request-Private-Network');
    if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('Access-Control-Allow-Private-Network', 'true');
    res.writeHead(204).end();
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const reason = refusal(req);
    const path = (req.url ?? '/').split('?')[0];
    if (reason || path !== '/ws') {
      if (reason) logRefusal(req, reason);
      const body = reason ? refusedBody(reason) : JSON.stringify(rpcError('INVALID_REQUEST', 'WebSocket 地址是 /ws'));
      socket.end(`HTTP/1.1 ${reason ? '403 Forbidden' : '404 Not Found'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws));
  });

  function serveSocket(ws: WebSocket): void {
    ws.on('error', (err) => logger.info({ err: err.message }, 'key agent WebSocket error'));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.send(JSON.stringify(rpcError('INVALID_REQUEST', '请发送文本消息（JSON）')));
        return;
      }
      void dispatcher.handleText(data.toString()).then(
        (answer) => answer !== undefined && ws.readyState === ws.OPEN && ws.send(answer),
        (err) => logger.error({ err }, 'key agent WebSocket dispatch failed'),
      );
    });
  }

  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen(port, host, () => {
          server.off('error', fail);
          ok(server.address() as AddressInfo);
        });
      }),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((ok) => wss.close(() => ok()));
      if (!server.listening) return;
      // Let in-flight calls finish (a certificate half-written because we quit would be our fault), then cut.
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 10_000);
      await closed;
      clearTimeout(cut);
    },
  };
}

function rpcError(name: 'INVALID_REQUEST', message: string) {
  return { jsonrpc: '2.0', id: null, error: new KeyAgentError(name, message).toWire() };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
}
