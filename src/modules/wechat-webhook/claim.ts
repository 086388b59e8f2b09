import { createHash } from 'node:crypto';
import { type Clock } from '../../lib/clock';
import { type KeyValueStore } from '../../lib/store/types';
import { type InboundMessage } from './service';
import { text } from './xml';

/** How long a "processing" claim lives without a heartbeat: a crashed instance's claim expires this fast. */
export const LEASE_MS = 6_000;
/** Done keys outlive the ±300 s timestamp window, so a replay inside the window is always recognised. */
export const DONE_TTL_MS = 660_000;
/**
 * The most a message's handling may take. Past it the heartbeat stops and the claim is released: a handler
 * that hangs (a stuck upstream, a lock wait) must not hold its message's claim, and renew it, forever.
 */
export const WORK_LIMIT_MS = 30_000;

/**
 * WeChat retries a message with the same MsgId (or, for events, the same sender, time, event and key).
 * TEMPLATESENDJOBFINISH spells it `MsgID`: two finish events for one user in the same second differ only there.
 */
export function dedupeKey(msg: InboundMessage): string {
  const msgId = text(msg.xml, 'MsgId');
  const identity = msgId
    ? `m\n${msgId}`
    : `e\n${text(msg.xml, 'CreateTime')}\n${text(msg.xml, 'Event')}\n${text(msg.xml, 'EventKey') ?? ''}\n${text(msg.xml, 'MsgID') ?? ''}`;
  return `wx:dedupe:${createHash('sha1').update(`${msg.openid}\n${identity}`).digest('hex')}`;
}

export class WorkAbandoned extends Error {
  constructor(limitMs: number) {
    super(`handling took longer than ${limitMs / 1000} s; claim released`);
  }
}

/**
 * Runs the work of a message whose claim (`keys`, set to "processing") this instance holds: renews the lease
 * while working, marks the keys "done" when the work succeeded, releases them when it failed — and abandons
 * it (releases, rejects with WorkAbandoned) once the injected clock says it ran past the limit. A late result
 * of abandoned work touches nothing: a retry may hold the claim by then.
 */
export function runClaimed<T>(store: KeyValueStore, clock: Clock, keys: string[], work: () => Promise<T>, limitMs = WORK_LIMIT_MS): Promise<T> {
  const startedAt = clock.nowMs();
  const release = () => Promise.all(keys.map((k) => store.del(k))).catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const heartbeat = setInterval(() => {
      if (clock.nowMs() - startedAt >= limitMs) {
        settled = true;
        clearInterval(heartbeat);
        void release().then(() => reject(new WorkAbandoned(limitMs)));
        return;
      }
      void store.setAll(keys, 'processing', LEASE_MS).catch(() => undefined);
    }, LEASE_MS / 3);
    const fail = async (err: unknown) => {
      // Release the claim so WeChat's retry (or our own) is processed rather than dropped.
      await release();
      reject(err);
    };
    work().then(
      async (result) => {
        if (settled) return;
        settled = true;
        clearInterval(heartbeat);
        try {
          await store.setAll(keys, 'done', DONE_TTL_MS);
          resolve(result);
        } catch (err) {
          await fail(err);
        }
      },
      async (err: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(heartbeat);
        await fail(err);
      },
    );
  });
}
