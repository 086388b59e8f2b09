import { resolve } from 'node:path';
import { type AppConfig, buildConfig } from '.';
import { ensureSandboxSecrets } from './sandbox-secrets';
import { parseSettings } from './settings';

/**
 * Settings → configuration, as every entry point (server, CLIs) does it. Outside production the sandbox
 * secrets in DATA_DIR are read (or created) first: they are the sandbox identity and the development fallback
 * for the session secret. Throws SettingsError naming every bad setting.
 */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const settings = parseSettings(env);
  return buildConfig(settings, settings.APP_ENV === 'production' ? undefined : ensureSandboxSecrets(resolve(settings.DATA_DIR)));
}
