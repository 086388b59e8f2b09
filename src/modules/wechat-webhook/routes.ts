import { randomInt } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';
import getRawBody from 'raw-body';
import { type Deps } from '../../deps';
import { nowSeconds } from '../../lib/clock';
import { openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { dedupeKey, LEASE_MS, runClaimed, WORK_LIMIT_MS } from './claim';
import { WechatMessageCrypto } from './crypto';
import { WebhookGuard, WebhookRefusal } from './guard';
import { type InboundMessage, messageType, WebhookService } from './service';
import { type Reply } from './replies';
import { encryptedReplyXml, text, textReplyXml, transferReplyXml } from './xml';

export { dedupeKey } from './claim';

export const DEFERRED_REPLY_JOB = 'wechat.deferred-reply';
/** Handles a message again after the answer went out as `success`: WeChat will not retry it (see below). */
export const DEFERRED_MESSAGE_JOB = 'wechat.deferred-message';
const BODY_LIMIT = 64 * 1024;

async function readBody(ctx: Koa.Context): Promise<string> {
  try {
    return await getRawBody(ctx.req, { length: ctx.request.length, limit: BODY_LIMIT, encoding: 'utf-8' });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new WebhookRefusal(413, 'too_large', 'body over 64 KB');
    throw new WebhookRefusal(400, 'malformed', `cannot read body: ${(err as Error).message}`);
  }
}

/**
 * GET|POST /wechat. Verify → claim (replay + dedupe, one round trip) → handle within the deadline → reply.
 * A request that cannot be finished in ~4.5 s is answered `success` and its reply goes out later through
 * the customer-service API, so the user never sees “该公众号暂时无法提供服务”.
 */
export function webhookRoutes(deps: Deps, service = new WebhookService(deps)): Router {
  const { config, store, logger, metrics, clock } = deps;
  const guard = new WebhookGuard(config.wechat, () => nowSeconds(clock));
  const replyCrypto = config.wechat.encodingAesKey ? new WechatMessageCrypto(config.wechat.token, config.wechat.encodingAesKey, config.wechat.appId) : undefined;
  const router = new Router();

  /**
   * Claims the message (replay + dedupe keys) and, in the same round trip, records the customer-service window it
   * opens: like the handler's effects, the window counts once per message, and a failed handler does not undo it
   * (the user did write). Returns null when claimed, else the value of the key that was there.
   */
  const claim = (msg: InboundMessage, keys: string[]) => {
    const interaction = service.interactionOf(msg);
    const window = interaction ? service.csWindow.interactionWrite(msg.openid, interaction) : null;
    return store.acquireAll(keys, 'processing', LEASE_MS, window ?? undefined);
  };
  /** The message's effects (its window was recorded with the claim). */
  const process = (msg: InboundMessage): Promise<Reply | null> => service.handle(msg);
  // A late answer cannot hand the message over: the customer-service message says how to reach a person.
  const queueReply = (msg: InboundMessage, reply: Reply, dedupe: string) =>
    deps.jobs.enqueue(DEFERRED_REPLY_JOB, { openid: msg.openid, text: typeof reply === 'string' ? reply : reply.fallbackText }, { jobId: dedupe });

  deps.jobs.register(DEFERRED_REPLY_JOB, async (payload) => {
    const openid = String(payload.openid);
    if (!(await service.csWindow.tryConsume(openid))) {
      logger.info({ openid: openidTail(openid) }, 'deferred reply dropped: no customer-service window open for this user');
      return;
    }
    try {
      await deps.wechatApi.sendCustomerServiceText(openid, String(payload.text));
    } catch (err) {
      // Refusals such as 45015 (window closed), 45047 (quota) or 43004 (unfollowed) do not change on retry.
      if (err instanceof WechatApiError && !err.retryable) {
        logger.warn({ openid: openidTail(openid), errcode: err.errcode }, 'deferred reply refused by WeChat; not retried');
        return;
      }
      throw err;
    }
  });

  // Once WeChat has been answered `success` it never sends the message again, so work that failed, was
  // abandoned or died with its process after that answer is redone here, under the same dedupe claim.
  deps.jobs.register(DEFERRED_MESSAGE_JOB, async (payload) => {
    const msg = payload.message as InboundMessage;
    const key = dedupeKey(msg);
    const prior = await claim(msg, [key]);
    if (prior === 'done') return;
    if (prior !== null) throw new Error('message still being handled; retried later');
    const reply = await runClaimed(store, clock, [key], () => process(msg));
    logger.info({ openid: openidTail(msg.openid), type: msg.type }, 'deferred message handled by its retry');
    if (reply) await queueReply(msg, reply, key);
  });
  const redoLater = (msg: InboundMessage, dedupe: string, suffix: string, delayMs = 0) =>
    deps.jobs.enqueue(DEFERRED_MESSAGE_JOB, { message: msg }, { jobId: `${dedupe}:${suffix}`, delayMs, attempts: 5 }).catch((err: unknown) => {
      logger.error({ err, openid: openidTail(msg.openid), type: msg.type }, 'could not queue the retry of a deferred message');
    });

  const refuse = (ctx: Koa.Context, err: WebhookRefusal) => {
    metrics.webhookOutcomes.inc({ outcome: err.outcome });
    logger.warn({ requestId: ctx.state.requestId, outcome: err.outcome, reason: err.message, ip: ctx.ip }, 'webhook request refused');
    ctx.status = err.status;
    ctx.type = 'text/plain';
    ctx.body = err.status === 413 ? 'Payload Too Large' : err.status === 400 ? 'Bad Request' : err.status === 403 ? 'Forbidden' : 'Unauthorized';
  };

  const buildReply = (msg: InboundMessage, reply: Reply): string => {
    const now = nowSeconds(clock);
    const plain = typeof reply === 'string'
      ? textReplyXml(msg.openid, text(msg.xml, 'ToUserName')!, reply, now)
      : transferReplyXml(msg.openid, text(msg.xml, 'ToUserName')!, now);
    if (!replyCrypto) return plain;
    const encrypt = replyCrypto.encrypt(plain);
    const timestamp = String(now);
    const nonce = String(randomInt(1e9, 1e10));
    return encryptedReplyXml(encrypt, replyCrypto.signature(timestamp, nonce, encrypt), timestamp, nonce);
  };

  router.get('/wechat', (ctx) => {
    try {
      const echostr = guard.verifyUrlCheck(ctx.query);
      metrics.webhookOutcomes.inc({ outcome: 'url_check' });
      ctx.type = 'text/plain';
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.body = echostr;
    } catch (err) {
      if (err instanceof WebhookRefusal) return refuse(ctx, err);
      throw err;
    }
  });

  router.post('/wechat', async (ctx) => {
    let msg: InboundMessage;
    let keys: string[];
    try {
      const verified = guard.verifyPost(ctx.query, await readBody(ctx));
      msg = { xml: verified.message, openid: text(verified.message, 'FromUserName')!, type: messageType(verified.message) };
      keys = [`wx:replay:${verified.replayKey}`, dedupeKey(msg)];
    } catch (err) {
      if (err instanceof WebhookRefusal) return refuse(ctx, err);
      throw err;
    }

    ctx.type = 'text/plain';
    if (!service.hasEffect(msg)) {
      // Bursts of template-send reports come this way: no store, no database, just the acknowledgement.
      metrics.webhookOutcomes.inc({ outcome: 'handled' });
      ctx.body = 'success';
      return;
    }
    if (!service.needsClaim(msg)) {
      // Delivery reports (a burst after each reminder run): one keyed write in a group commit, then the answer.
      // A failure answers 500, so WeChat sends the report again.
      try {
        await service.handle(msg);
      } catch (err) {
        metrics.webhookOutcomes.inc({ outcome: 'failed' });
        logger.error({ err, requestId: ctx.state.requestId, type: msg.type }, 'webhook handling failed');
        ctx.status = 500;
        ctx.body = 'error';
        return;
      }
      metrics.webhookOutcomes.inc({ outcome: 'handled' });
      ctx.body = 'success';
      return;
    }
    const prior = await claim(msg, keys);
    if (prior !== null) {
      // A retry or a replay: acknowledged like WeChat expects, acted on once.
      metrics.webhookOutcomes.inc({ outcome: 'duplicate' });
      ctx.body = 'success';
      return;
    }

    let deferred = false;
    const work = runClaimed(store, clock, keys, () => process(msg));
    work.catch((err: unknown) => {
      metrics.webhookOutcomes.inc({ outcome: 'failed' });
      logger.error({ err, requestId: ctx.state.requestId, type: msg.type, deferred }, 'webhook handling failed');
      if (deferred) void redoLater(msg, keys[1], 'retry');
    });

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => {
        // Set here, not after the race: a failure from this moment on happens after WeChat's answer.
        deferred = true;
        resolve('deadline');
      }, config.wechat.replyDeadlineMs);
    });
    let outcome: Reply | null | 'deadline';
    try {
      outcome = await Promise.race([work, deadline]);
    } catch {
      ctx.status = 500;
      ctx.body = 'error';
      return;
    } finally {
      clearTimeout(timer);
    }

    if (outcome === 'deadline') {
      metrics.webhookOutcomes.inc({ outcome: 'deferred' });
      // Durable before the answer: should this process die, the job redoes the work after the limit.
      await redoLater(msg, keys[1], 'late', WORK_LIMIT_MS + LEASE_MS);
      ctx.body = 'success';
      work.then(
        (reply) => {
          if (reply) queueReply(msg, reply, keys[1]).catch((err: unknown) => logger.error({ err, openid: openidTail(msg.openid) }, 'could not queue the deferred reply'));
        },
        () => undefined, // logged and redone above
      );
      return;
    }
    metrics.webhookOutcomes.inc({ outcome: 'handled' });
    if (outcome === null) {
      ctx.body = 'success';
      return;
    }
    ctx.type = 'application/xml';
    ctx.body = buildReply(msg, outcome);
  });

  return router;
}
