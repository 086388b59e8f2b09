import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { KEY_AGENT_DEFAULT_PORT } from './protocol';
import { defaultSoftTokenDir } from './soft-token-admin';

/**
 * The key agent's settings, from the environment of the user's PC, validated once. Separate from the site's
 * settings: the agent is a different program on a different machine (it shares only DATA_DIR and LOG_LEVEL).
 */
export interface KeyAgentConfig {
  port: number;
  /** Always loopback: the agent must never be reachable from the network. */
  host: '127.0.0.1';
  allowedOrigins: string[];
  backends: Array<'soft' | 'pkcs11'>;
  /** True when pkcs11 came from the default (module found) rather than KEY_AGENT_BACKENDS: failing to load it is a warning. */
  pkcs11Optional: boolean;
  pkcs11Module: string;
  softTokenDir: string;
  dev: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  bodyLimitBytes: number;
}

/** Where SoftHSM2's module usually is (Debian/Ubuntu, multiarch, /usr/local builds, Homebrew). */
const PKCS11_MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

const blank = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const bool = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
  z.enum(['1', '0', 'true', 'false', 'yes', 'no']).optional().transform((v) => v === '1' || v === 'true' || v === 'yes'),
);

/** An exact origin (scheme://host[:port]); "*" or a path would defeat the allow-list. */
const origin = z.string().trim().transform((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    /* reported below */
  }
  if (!url || !/^https?:$/.test(url.protocol) || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an origin like https://ca.example.com or http://localhost:3000` });
    return z.NEVER;
  }
  return url.origin;
});

const schema = z.object({
  KEY_AGENT_PORT: z.preprocess(blank, z.coerce.number().int().min(0).max(65535).default(KEY_AGENT_DEFAULT_PORT)),
  KEY_AGENT_ALLOWED_ORIGINS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined),
    z.array(origin).min(1).optional(),
  ),
  KEY_AGENT_BACKENDS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? [...new Set(v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))] : undefined),
    z.array(z.enum(['soft', 'pkcs11'])).min(1).optional(),
  ),
  KEY_AGENT_PKCS11_MODULE: z.preprocess(blank, z.string().optional()),
  KEY_AGENT_SOFT_TOKEN_DIR: z.preprocess(blank, z.string().optional()),
  KEY_AGENT_DEV: bool,
  KEY_AGENT_BODY_LIMIT_KB: z.preprocess(blank, z.coerce.number().int().min(16).max(4096).default(256)),
  /** The site's address: its origin joins the default allow-list. */
  PUBLIC_BASE_URL: z.preprocess(blank, origin.optional().catch(undefined)),
  LOG_LEVEL: z.preprocess(blank, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
});

export class KeyAgentConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid key agent settings:\n  - ${problems.join('\n  - ')}`);
    this.name = 'KeyAgentConfigError';
  }
}

export function loadKeyAgentConfig(env: Record<string, string | undefined>): KeyAgentConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new KeyAgentConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const s = parsed.data;
  const pkcs11Module = s.KEY_AGENT_PKCS11_MODULE ?? PKCS11_MODULE_CANDIDATES.find((p) => existsSync(p)) ?? PKCS11_MODULE_CANDIDATES[0];
  const backends = s.KEY_AGENT_BACKENDS ?? (existsSync(pkcs11Module) ? ['soft', 'pkcs11'] : ['soft']);
  if (s.KEY_AGENT_BACKENDS?.includes('pkcs11') && !existsSync(pkcs11Module)) {
    throw new KeyAgentConfigError([`KEY_AGENT_PKCS11_MODULE: ${pkcs11Module} does not exist (install the token's PKCS#11 driver, or SoftHSM2)`]);
  }
  // localhost:3000 is the development site: once the site's address is known, any local page on port 3000 (another
  // program, a dev server) must not get to ask this user's U-KEY for signatures.
  const allowedOrigins = s.KEY_AGENT_ALLOWED_ORIGINS ?? (s.PUBLIC_BASE_URL ? [s.PUBLIC_BASE_URL] : ['http://localhost:3000', 'http://127.0.0.1:3000']);
  return Object.freeze({
    port: s.KEY_AGENT_PORT,
    host: '127.0.0.1',
    allowedOrigins: [...new Set(allowedOrigins)],
    backends,
    pkcs11Optional: s.KEY_AGENT_BACKENDS === undefined,
    pkcs11Module: resolve(pkcs11Module),
    softTokenDir: resolve(s.KEY_AGENT_SOFT_TOKEN_DIR ?? defaultSoftTokenDir(env)),
    dev: s.KEY_AGENT_DEV,
    logLevel: s.LOG_LEVEL,
    bodyLimitBytes: s.KEY_AGENT_BODY_LIMIT_KB * 1024,
  }) as KeyAgentConfig;
}
