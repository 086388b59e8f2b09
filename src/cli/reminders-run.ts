import { ExpiryReminderService } from '../modules/reminders/service';
import { type CliIo, runCli, withDeps } from './bootstrap';

/**
 * `npm run reminders:run`: what the daily job `reminders.daily` does, by hand (a day the scheduler missed, or a check
 * after changing a template id). Safe to repeat: each certificate, threshold and handler is claimed once.
 */
export async function runReminders(io: CliIo): Promise<void> {
  await withDeps(io, { wechat: true }, async (deps) => {
    const s = await new ExpiryReminderService(deps).runDaily();
    io.out(`Expiry reminders: ${s.claimed} claimed, ${s.sent} sent, ${s.unreachable} unreachable, ${s.skipped} skipped, ${s.failed} failed (retried: ${s.retried}).`);
  });
}

if (require.main === module) runCli(runReminders);
