import { purgeHandlerRecords } from '../modules/handler-authorisation/jobs';
import { type CliIo, runCli, withDeps } from './bootstrap';

/**
 * `npm run handlers:purge`: what the daily job `handlers.purge` does, by hand — deletes liveness attempts,
 * verified handlers and handler authorisations whose retention (5 years after the certificate expires) has ended.
 */
export async function purgeHandlers(io: CliIo): Promise<void> {
  await withDeps(io, { wechat: false }, async (deps) => {
    const purged = await purgeHandlerRecords(deps, new Date(deps.clock.nowMs()));
    io.out(`Purged ${purged.handlers} verified handler(s), ${purged.attempts} attempt(s), ${purged.authorisations} authorisation(s).`);
  });
}

if (require.main === module) runCli(purgeHandlers);
