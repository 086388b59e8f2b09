import { createHash, randomInt } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';
import getRawBody from 'raw-body';
import { type Deps } from '../../deps';
import { nowSeconds } from '../../lib/clock';
import { openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { WechatMessageCrypto } from './crypto';
import { WebhookGuard, WebhookRefusal } from './guard';
import { type InboundMessage, messageType, WebhookService } from './service';
import { type Reply } from './replies';
import { encryptedReplyXml, text, textReplyXml, transferReplyXml } from './xml';

export const DEFERRED_REPLY_JOB = 'wechat.deferred-reply';
const BODY_LIMIT = 64 * 1024;
/** How long a "processing" claim lives without a heartbeat: a crashed instance's claim expires this fast. */
const LEASE_MS = 6_000;
/** Done keys outlive the ±300 s timestamp window, so a replay inside the window is always recognised. */
const DONE_TTL_MS = 660_000;

/** WeChat retries a message with the same MsgId (or, for events, the same sender, time, event and key). */
export function dedupeKey(msg: InboundMessage): string {
  const msgId = text(msg.xml, 'MsgId');
  const identity = msgId ? `m\n${msgId}` : `e\n${text(msg.xml, 'CreateTime')}\n${text(msg.xml, 'Event')}\n${text(msg.xml, 'EventKey') ?? ''}`;
  return `wx:dedupe:${createHash('sha1').update(`${msg.openid}\n${identity}`).digest('hex')}`;
}

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
    const prior = await store.acquireAll(keys, 'processing', LEASE_MS);
    if (prior !== null) {
      // A retry or a replay: acknowledged like WeChat expects, acted on once.
      metrics.webhookOutcomes.inc({ outcome: 'duplicate' });
      ctx.body = 'success';
      return;
    }

    const heartbeat = setInterval(() => void store.setAll(keys, 'processing', LEASE_MS).catch(() => undefined), LEASE_MS / 3);
    const work = (async () => {
      const interaction = service.interactionOf(msg);
      const [reply] = await Promise.all([service.handle(msg), interaction ? service.csWindow.recordInteraction(msg.openid, interaction) : undefined]);
      clearInterval(heartbeat);
      await store.setAll(keys, 'done', DONE_TTL_MS);
      return reply;
    })();
    work.catch(async (err) => {
      clearInterval(heartbeat);
      // Release the claim so WeChat's retry is processed rather than dropped.
      await Promise.all(keys.map((k) => store.del(k))).catch(() => undefined);
      logger.error({ err, requestId: ctx.state.requestId, type: msg.type }, 'webhook handling failed');
    });

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), config.wechat.replyDeadlineMs); });
    let outcome: Reply | null | 'deadline';
    try {
      outcome = await Promise.race([work, deadline]);
    } catch {
      metrics.webhookOutcomes.inc({ outcome: 'failed' });
      ctx.status = 500;
      ctx.body = 'error';
      return;
    } finally {
      clearTimeout(timer);
    }

    if (outcome === 'deadline') {
      metrics.webhookOutcomes.inc({ outcome: 'deferred' });
      ctx.body = 'success';
      work
        // A late answer cannot hand the message over: the customer-service message says how to reach a person.
        .then((reply) => (reply ? deps.jobs.enqueue(DEFERRED_REPLY_JOB, { openid: msg.openid, text: typeof reply === 'string' ? reply : reply.fallbackText }, { jobId: keys[1] }) : undefined))
        .catch(() => undefined);
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
