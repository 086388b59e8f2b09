import autocannon from 'autocannon';
import { type RequestPool } from './requests';

/** One autocannon run against one server, with the response bodies classified as they arrive. */
export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Pre-signed webhook POSTs; without it the run is plain `GET /`. */
  pool?: RequestPool;
}

export interface LoadFigures {
  rps: number;
  p50: number;
  p99: number;
  latencyMean: number;
  latencyMax: number;
  /** Requests written to a socket (one per setupRequest), and responses received. */
  sent: number;
  responses: number;
  status2xx: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** 200 answers carrying a reply (anything but `success`), and 200 answers that said `success`. */
  replies: number;
  successBodies: number;
  encryptedReplies: number;
  sampleReply?: string;
  sampleOther?: string;
  liveSigned: number;
  /** The openid of every request answered with a reply (pipelining 1: a response belongs to its connection's last request). */
  repliedOpenids: string[];
}

/** autocannon hands the same per-connection context to setupRequest and to the onResponse of that request. */
interface RequestContext {
  openid?: string;
}

const ENCRYPTED = /^<xml><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt>/;

export async function runLoad(opts: LoadOptions): Promise<LoadFigures> {
  const counts = { sent: 0, responses: 0, replies: 0, successBodies: 0, encrypted: 0 };
  const statusCodes: Record<string, number> = {};
  let sampleReply: string | undefined;
  let sampleOther: string | undefined;
  const repliedOpenids: string[] = [];
  const pool = opts.pool;

  const request: autocannon.Request = {
    setupRequest: (req, context) => {
      counts.sent++;
      if (!pool) return req;
      const next = pool.take();
      (context as RequestContext).openid = next.openid;
      return { ...req, method: 'POST', path: next.path, body: next.body, headers: { ...req.headers, 'content-type': 'text/xml' } };
    },
    onResponse: (status, body, context) => {
      counts.responses++;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status !== 200) {
        sampleOther ??= `${status} ${body.slice(0, 200)}`;
        return;
      }
      if (body === 'success') {
        counts.successBodies++;
        return;
      }
      counts.replies++;
      const openid = (context as RequestContext).openid;
      if (openid) repliedOpenids.push(openid);
      if (ENCRYPTED.test(body)) counts.encrypted++;
      sampleReply ??= body;
    },
  };

  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    pipelining: 1,
    timeout: 10,
    requests: [request],
  });

  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    latencyMean: result.latency.average,
    latencyMax: result.latency.max,
    sent: counts.sent,
    responses: counts.responses,
    status2xx: result['2xx'],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    replies: counts.replies,
    successBodies: counts.successBodies,
    encryptedReplies: counts.encrypted,
    sampleReply,
    sampleOther,
    liveSigned: pool?.liveSigned ?? 0,
    repliedOpenids,
  };
}
