import dns from 'node:dns';
import net from 'node:net';

/**
 * No test reaches the internet: every outgoing TCP connection must go to loopback. Anything else fails loudly
 * (this is what nock.disableNetConnect() does, for every client including fetch/undici and mysql2).
 */
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;
const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function patchedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0] as { host?: string; path?: string } | number | string;
  const host = typeof first === 'object' && first !== null ? first.host ?? (first.path ? 'localhost' : 'localhost') : typeof args[1] === 'string' ? args[1] : 'localhost';
  if (typeof first === 'object' && first !== null && first.path) return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  if (!LOOPBACK.test(String(host))) throw new Error(`test tried to reach ${host}: tests may only talk to 127.0.0.1`);
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;
dns.setDefaultResultOrder('ipv4first');
