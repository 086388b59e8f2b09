import { request } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import { type TokenBackend } from '../../../../src/key-agent/backend';
import { KeyAgentClient, KeyAgentError, KeyAgentUnavailableError } from '../../../../src/key-agent/client';
import { loadKeyAgentConfig } from '../../../../src/key-agent/config';
import { createKeyAgent, type KeyAgent } from '../../../../src/key-agent/create-agent';
import { KeyAgentErrorCode } from '../../../../src/key-agent/protocol';
import { createSoftToken, importKeyAndCertificate } from '../../../../src/key-agent/soft-token-admin';
import { quietLogger, softKeyWithCertificate, tempDir, TestCa } from './fixtures';

const SITE = 'http://localhost:3000';
const PIN = '314159';
let tmp: ReturnType<typeof tempDir>;
let agent: KeyAgent;
let port: number;
let logLines: string[];

beforeEach(async () => {
  tmp = tempDir('agent-http');
  logLines = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) });
  agent = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_PORT: '0', KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: tmp.dir }), { logger: pino({ level: 'info' }, sink) });
  ({ port } = await agent.listen());
});
afterEach(async () => {
  await agent.close();
  tmp.cleanup();
});

/** A raw HTTP exchange, so the test controls Host and Origin exactly as a browser (or an attacker) would send them. */
function raw(method: string, headers: Record<string, string>, body?: string, path = '/rpc'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}
const rpc = (method: string, params: unknown = {}, id: number | string = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
const json = { 'Content-Type': 'application/json' };

describe('key agent over HTTP: who may call', () => {
  it('When the site (an allowed origin) calls /rpc, then it gets the answer with CORS headers naming it', async () => {
    const res = await raw('POST', { ...json, Origin: SITE }, rpc('agent.hello'));
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(SITE);
    expect(JSON.parse(res.body).result).toMatchObject({ name: 'shuan-ca-key-agent', protocol: 2, backends: ['soft'] });
  });

  it.each(['https://evil.example', 'null', 'http://localhost:3000.evil.example'])('When a page from origin %s calls, then HTTP 403 ORIGIN_REFUSED and no CORS header', async (origin) => {
    const res = await raw('POST', { ...json, Origin: origin }, rpc('device.list'));
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(res.body).error).toMatchObject({ code: KeyAgentErrorCode.ORIGIN_REFUSED, data: { reason: 'origin' } });
  });

  it('When the Host is not 127.0.0.1/localhost with our port (DNS rebinding), then HTTP 403 ORIGIN_REFUSED even from an allowed origin', async () => {
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'localhost']) {
      const res = await raw('POST', { ...json, Origin: SITE, Host: host }, rpc('device.list'));
      expect([host, res.status, JSON.parse(res.body).error.data]).toEqual([host, 403, { reason: 'host' }]);
    }
    expect((await raw('POST', { ...json, Host: `localhost:${port}` }, rpc('agent.hello'))).status).toBe(200);
  });

  it('When Chrome sends a preflight with Access-Control-Request-Private-Network, then an allowed origin gets Allow-Private-Network; another origin gets 403', async () => {
    const ask = { Origin: SITE, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type', 'Access-Control-Request-Private-Network': 'true' };
    const res = await raw('OPTIONS', ask);
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': SITE,
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'Content-Type',
      'access-control-allow-private-network': 'true',
    });
    const refused = await raw('OPTIONS', { ...ask, Origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.headers['access-control-allow-private-network']).toBeUndefined();
  });

  it('When the body is not JSON-typed, too large, or not JSON, then 415 / 413 / a JSON-RPC parse error', async () => {
    expect((await raw('POST', { 'Content-Type': 'text/plain' }, rpc('agent.hello'))).status).toBe(415);
    const big = await raw('POST', json, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'agent.hello', params: { pad: 'x'.repeat(300 * 1024) } }));
    expect([big.status, JSON.parse(big.body).error.code]).toEqual([413, KeyAgentErrorCode.INVALID_REQUEST]);
    const bad = await raw('POST', json, '{"jsonrpc":');
    expect(JSON.parse(bad.body)).toEqual({ jsonrpc: '2.0', id: null, error: { code: KeyAgentErrorCode.PARSE_ERROR, message: expect.any(String) } });
    expect((await raw('GET', {})).status).toBe(405);
    expect((await raw('POST', json, rpc('agent.hello'), '/other')).status).toBe(404);
  });
});

describe('key agent over HTTP: JSON-RPC', () => {
  it('When a batch mixes calls, a notification and an unknown method, then each call is answered by id and the notification is not', async () => {
    const body = JSON.stringify([
      { jsonrpc: '2.0', id: 'a', method: 'agent.hello' },
      { jsonrpc: '2.0', method: 'device.list' },
      { jsonrpc: '2.0', id: 7, method: 'no.such' },
      { jsonrpc: '2.0', id: 8, method: 'cert.list', params: {} },
    ]);
    const answers = JSON.parse((await raw('POST', json, body)).body);
    expect(answers.map((a: { id: unknown; error?: { code: number } }) => [a.id, a.error?.code ?? 'ok'])).toEqual([
      ['a', 'ok'], [7, KeyAgentErrorCode.METHOD_NOT_FOUND], [8, KeyAgentErrorCode.INVALID_PARAMS],
    ]);
    expect((await raw('POST', json, JSON.stringify({ jsonrpc: '2.0', method: 'agent.hello' }))).status).toBe(204);
  });

  it('When the page talks over WebSocket, then the same dispatcher answers; a refused origin cannot open the socket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { origin: SITE });
    await new Promise((ok, fail) => ws.once('open', ok).once('error', fail));
    const answer = new Promise<string>((ok) => ws.once('message', (d) => ok(String(d))));
    ws.send(rpc('agent.hello', {}, 42));
    expect(JSON.parse(await answer)).toMatchObject({ id: 42, result: { name: 'shuan-ca-key-agent' } });
    ws.close();

    const evil = new WebSocket(`ws://127.0.0.1:${port}/ws`, { origin: 'https://evil.example' });
    const error = await new Promise<Error>((ok) => evil.once('error', ok));
    expect(error.message).toContain('403');
  });

  it('When the typed client calls, then results come back typed and protocol errors as KeyAgentError with the exact code', async () => {
    const ca = TestCa.create();
    const { mediaSerial } = await createSoftToken({ dir: tmp.dir, pin: PIN });
    await importKeyAndCertificate({ dir: tmp.dir, mediaSerial, pin: PIN, ...(await softKeyWithCertificate(ca, 'ECDSA-P256')) });
    const client = new KeyAgentClient({ url: `http://127.0.0.1:${port}` });
    const { devices } = await client.call('device.list');
    expect(devices.map((d) => d.mediaSerial)).toEqual([mediaSerial]);
    const [cert] = (await client.call('cert.list', { mediaSerial })).certificates;
    await client.call('sign', { mediaSerial, certificateId: cert.certificateId, pin: PIN, dataBase64: Buffer.from('secret-challenge').toString('base64') });
    const err = await client.call('pin.verify', { mediaSerial, pin: '000000' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyAgentError);
    expect([(err as KeyAgentError).code, (err as KeyAgentError).codeName, (err as KeyAgentError).data]).toEqual([KeyAgentErrorCode.PIN_INCORRECT, 'PIN_INCORRECT', { triesLeft: 5 }]);
    await expect(new KeyAgentClient({ url: `http://127.0.0.1:${port}`, origin: 'https://evil.example' }).call('agent.hello')).rejects.toMatchObject({ codeName: 'ORIGIN_REFUSED' });

    // The logs name the method and the serial's tail; never the PIN, the data or the full serial.
    const logs = logLines.join('');
    expect(logs).toContain('"rpc":"sign"');
    expect(logs).toContain(`…${mediaSerial.slice(-4)}`);
    for (const secret of [PIN, '000000', Buffer.from('secret-challenge').toString('base64'), mediaSerial]) expect(logs).not.toContain(secret);
  });

  it('When no agent listens, then the client throws KeyAgentUnavailableError', async () => {
    const url = `http://127.0.0.1:${port}`;
    await agent.close();
    await expect(new KeyAgentClient({ url, timeoutMs: 2000 }).call('agent.hello')).rejects.toBeInstanceOf(KeyAgentUnavailableError);
  });
});

describe('key agent: one thing at a time per device', () => {
  it('When calls to one device overlap, then they run one after another, while another device runs alongside', async () => {
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    let overall = 0;
    let mostOverall = 0;
    const slow = async (serial: string) => {
      running.set(serial, (running.get(serial) ?? 0) + 1);
      overall += 1;
      most.set(serial, Math.max(most.get(serial) ?? 0, running.get(serial)!));
      mostOverall = Math.max(mostOverall, overall);
      await new Promise((r) => setTimeout(r, 15));
      running.set(serial, running.get(serial)! - 1);
      overall -= 1;
    };
    // A stand-in token that only records overlap: the property under test is the dispatcher's queue.
    const recorder = {
      kind: 'soft', listDevices: async () => [], locate: async () => 'present', verifyPin: (serial: string) => slow(serial), close: async () => {},
    } as unknown as TokenBackend;
    const local = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: tmp.dir }), { logger: quietLogger(), backends: [recorder] });
    await Promise.all(['A', 'B'].flatMap((serial) => Array.from({ length: 4 }, () => local.dispatcher.call('pin.verify', { mediaSerial: serial, pin: '1' }))));
    expect([most.get('A'), most.get('B'), mostOverall]).toEqual([1, 1, 2]);
    await local.close();
  });
});
