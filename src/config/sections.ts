import { z } from 'zod';
import { type SandboxSecrets } from './sandbox-secrets';
import { type Settings, settingsSchema, SettingsError } from './settings';

/* The building blocks of the configuration's sections (see index.ts). */

/** What every section may look at besides the settings: the sandbox secrets, and what is decided once for all. */
export interface Context {
  isProduction: boolean;
  /** The sandbox identity and development fallbacks (DATA_DIR); absent in production. */
  sandbox?: SandboxSecrets;
  /** True when no WeChat identity is configured at all (and not in production): the in-process WeChat stands in. */
  wechatSandbox: boolean;
  port: number;
  publicBaseUrl: string;
}

/** The parsed settings plus the sandbox secrets, under the key `sandbox`: the input of every section. */
export type SectionInput = Settings & { sandbox?: SandboxSecrets };

/**
 * Every setting as settingsSchema already parsed and validated it. A section spreads these (`z.object({ ...S, … })`)
 * and overrides only what its mode requires, so its output can read any setting, typed.
 */
export const S = Object.fromEntries(Object.keys(settingsSchema.shape).map((name) => [name, z.any().optional()])) as unknown as { [K in keyof Settings]-?: z.ZodType<Settings[K]> };
/** A setting this mode requires; `why` completes "NAME: …" in the message that stops the start. */
export const need = (why: string) => z.string({ error: why });
/** A setting with a fallback (a sandbox secret) that must end up set. */
export const needOr = (fallback: string | undefined, why: string) => z.preprocess((v) => v ?? fallback, need(why));
/** The sandbox secrets, required by a section's sandbox mode. */
export const sandboxSecrets = (what: string) => z.custom<SandboxSecrets>((v) => v !== undefined, { error: `internal: ${what} needs the sandbox secrets from DATA_DIR` });
/** A check across settings (`.refine(ok, across(NAME, message))`): run even when a required one is missing, so every problem is named at once. */
export const across = (name: string, message: string) => ({ path: [name], message, when: () => true });
export const IN_PRODUCTION = 'required when APP_ENV=production';
export const trimSlashes = (url: string) => url.replace(/\/+$/, '');

/** Settings read by a builder that reports `{ config, problems }` (liveness in its provider, the PII vault's keys). */
export function fromBuilder<T>(build: () => { config?: T; problems: string[] }): z.ZodType<T> {
  return z.any().transform((_, ctx) => {
    const { config, problems } = build();
    for (const message of problems) ctx.issues.push({ code: 'custom', message, input: undefined });
    return config ?? z.NEVER;
  });
}

/** "NAME: message" as parseSettings words it; the sandbox secrets and builders' problems carry their own words. */
function describe(issue: z.core.$ZodIssue): string {
  const name = issue.path.join('.');
  return name && name !== 'sandbox' ? `${name}: ${issue.message}` : issue.message;
}

/** Parses every section, collecting every problem (each once) before stopping the start with all of them. */
export function parseSections<T extends Record<string, z.ZodType>>(sections: T, input: SectionInput): { [K in keyof T]: z.output<T[K]> } {
  const problems = new Set<string>();
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(sections)) {
    const parsed = schema.safeParse(input);
    if (parsed.success) out[name] = parsed.data;
    else parsed.error.issues.forEach((issue) => problems.add(describe(issue)));
  }
  if (problems.size) throw new SettingsError([...problems]);
  return out as { [K in keyof T]: z.output<T[K]> };
}
