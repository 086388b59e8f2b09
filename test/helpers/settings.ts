import { SettingsError } from '../../src/config/settings';

/** The problems a settings check reports (what stops the start), or [] when `fn` passes. Other errors propagate. */
export function settingsProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
  return [];
}
