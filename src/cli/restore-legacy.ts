import { parseArgs } from 'node:util';
import { openidTail } from '../lib/logger';
import { LegacyBindingRepository } from '../modules/legacy-bindings/repository';
import { LegacyRestoreService } from '../modules/legacy-bindings/service';
import { WechatApiError } from '../providers/wechat-api/errors';
import { CliError, type CliIo, describeError, runCli, withDeps } from './bootstrap';

const USAGE = 'usage: npm run restore:legacy [-- --concurrency 4]';
const PAGE = 200;

export interface RestoreSummary {
  followers: number;
  unionidsFetched: number;
  withoutUnionid: number;
  notFollowing: number;
  failed: number;
  followersWithNewBindings: number;
  bindingsCreated: number;
  pending: number;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/**
 * `npm run restore:legacy`: the one-off pass over every follower we know, for legacy bindings imported after
 * people followed (or certificates that became known since). Followers with a stored unionid are restored from
 * the database; the others are asked of WeChat's user-info API one by one (the client has no batchget), a few at
 * a time. Sends no messages: no customer-service window is open; the H5 home shows what was restored.
 */
export async function restoreLegacy(io: CliIo, argv: string[]): Promise<RestoreSummary | undefined> {
  const { values } = parseArgs({ args: argv, options: { concurrency: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    io.out(USAGE);
    return undefined;
  }
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) throw new CliError('--concurrency must be a whole number from 1 to 32');

  return withDeps(io, { wechat: true }, async (deps) => {
    const repo = new LegacyBindingRepository();
    const service = new LegacyRestoreService(deps);
    const summary: RestoreSummary = { followers: 0, unionidsFetched: 0, withoutUnionid: 0, notFollowing: 0, failed: 0, followersWithNewBindings: 0, bindingsCreated: 0, pending: 0 };
    if (!(await repo.any(deps.db.manager))) {
      io.out('No legacy bindings imported yet (npm run import:legacy -- file.csv): nothing to restore.');
      return summary;
    }
    const includeSandbox = deps.config.sandbox;
    const count = (outcome: { created: number; pending: number }) => {
      summary.bindingsCreated += outcome.created;
      summary.pending += outcome.pending;
      if (outcome.created) summary.followersWithNewBindings += 1;
    };

    let afterId = 0;
    for (;;) {
      const page = await repo.pageOfFollowers(deps.db.manager, afterId, PAGE, { includeSandbox });
      if (!page.length) break;
      afterId = page[page.length - 1].id;
      summary.followers += page.length;
      for (const f of page) if (f.unionid) count(await service.restore(f.openid, f.unionid));
      // WeChat gives a unionid only to current followers: asking about the others would spend calls for nothing.
      const toAsk = page.filter((f) => !f.unionid && f.subscribed);
      summary.notFollowing += page.filter((f) => !f.unionid && !f.subscribed).length;
      await eachLimited(toAsk, concurrency, async (f) => {
        try {
          const outcome = await service.checkAndRestore(f.openid);
          if (outcome.unionid) summary.unionidsFetched += 1;
          else summary.withoutUnionid += 1;
          count(outcome);
        } catch (err) {
          summary.failed += 1;
          if (summary.failed <= 20) io.err(`follower ${openidTail(f.openid)}: ${describeError(err)}`);
          // The daily quota is gone: the rest would fail the same way. Running again tomorrow picks up from scratch.
          if (err instanceof WechatApiError && err.errcode === 45009) throw new CliError('WeChat daily user-info quota reached (45009); run again tomorrow');
        }
      });
      io.out(`… ${summary.followers} followers checked`);
    }

    io.out(`Followers checked:     ${summary.followers} (${summary.notFollowing} no longer following, skipped)`);
    io.out(`Unionids from WeChat:  ${summary.unionidsFetched} fetched, ${summary.withoutUnionid} without one, ${summary.failed} failed`);
    io.out(`Restored:              ${summary.bindingsCreated} new binding(s) for ${summary.followersWithNewBindings} follower(s)`);
    io.out(`Still pending:         ${summary.pending} legacy row(s) naming a certificate we do not know yet`);
    return summary;
  });
}

if (require.main === module) runCli(async (io, argv) => void (await restoreLegacy(io, argv)));
