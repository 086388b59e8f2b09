import { isIP } from 'node:net';
import { z } from 'zod';
import { type Context, S, trimSlashes } from './sections';

/** One allow-list entry: `10.0.0.0/8`, `fd00::/8` or a single address. Returns a problem, or null. */
function cidrProblem(entry: string): string | null {
  const [address, bits, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (!family || extra !== undefined) return `"${entry}" is not an IP address or CIDR`;
  if (bits === undefined) return null;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128) ? null : `"${entry}": prefix length must be 0-${family === 4 ? 32 : 128}`;
}

/**
 * The operator console (issue 12): its own listener (never mounted on the public app), sessions and network rules.
 * Outside production it listens on PORT+1 unless ADMIN_PORT says otherwise, so `npm start` shows it; in production
 * it runs only when ADMIN_PORT is set, behind an https address (the session cookie is Secure there).
 */
export function consoleSection(c: Context) {
  return z.object(S).superRefine((s, ctx) => {
    if (s.ADMIN_PORT !== undefined && s.ADMIN_PORT !== 0 && s.ADMIN_PORT === s.PORT) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_PORT'], message: 'must differ from PORT (the console never shares the public listener)' });
    }
    for (const entry of (s.ADMIN_IP_ALLOWLIST ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
      const problem = cidrProblem(entry);
      if (problem) ctx.addIssue({ code: 'custom', path: ['ADMIN_IP_ALLOWLIST'], message: problem });
    }
    if (c.isProduction && s.ADMIN_PORT !== undefined && !s.ADMIN_BASE_URL?.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_BASE_URL'], message: 'must be the console\'s https:// address when APP_ENV=production and ADMIN_PORT is set' });
    }
  }).transform((s) => {
    const port = s.ADMIN_PORT ?? (c.isProduction ? undefined : s.PORT === 0 ? 0 : s.PORT + 1);
    const baseUrl = trimSlashes(s.ADMIN_BASE_URL ?? `http://localhost:${port ?? 0}`);
    return {
      /** undefined: no console listener (production without ADMIN_PORT). */
      port,
      /** The port is the development default (PORT+1), not asked for: a busy port then only skips the console. */
      portDefaulted: s.ADMIN_PORT === undefined,
      host: s.ADMIN_HOST ?? s.HOST,
      baseUrl,
      /** The origin operators' key agents must allow (U-KEY login). */
      origin: new URL(baseUrl).origin,
      secureCookies: baseUrl.startsWith('https://'),
      trustedProxy: s.ADMIN_TRUSTED_PROXY,
      ipAllowlist: (s.ADMIN_IP_ALLOWLIST ?? '').split(',').map((e) => e.trim()).filter(Boolean),
      idleMs: s.ADMIN_SESSION_IDLE_MINUTES * 60_000,
      absoluteMs: s.ADMIN_SESSION_MAX_HOURS * 3600_000,
    };
  });
}
export type ConsoleConfig = z.output<ReturnType<typeof consoleSection>>;
