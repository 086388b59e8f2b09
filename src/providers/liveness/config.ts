import { z } from 'zod';
import { type Context, IN_PRODUCTION, need, S, sandboxSecrets, trimSlashes } from '../../config/sections';
import { type Settings } from '../../config/settings';

export interface LivenessConfig {
  /** 'sandbox' when no TENCENTCLOUD_* / FACEID_* setting is given: the in-process FaceID at /sandbox/faceid. */
  mode: 'real' | 'sandbox';
  secretId: string;
  secretKey: string;
  ruleId: string;
  region?: string;
  /** Where the FaceID API 3.0 answers (no trailing slash): https://faceid.tencentcloudapi.com or the sandbox's. */
  apiBase: string;
}

const ANY = ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'FACEID_RULE_ID', 'FACEID_REGION'] as const;
export const SANDBOX_FACEID_RULE_ID = '1';
/**
 * Where DetectAuth's `Url` (the FaceID H5 check page) lives: Tencent's qq.com hosts. The handler form posts to us and
 * we redirect there, so the pages' form-action must allow it (browsers apply form-action to a form's redirects).
 */
export const FACEID_PAGE_ORIGINS: readonly string[] = ['https://*.qq.com'];

/**
 * The configuration's liveness section (see src/config): all or none outside production (a half-configured FaceID
 * must not quietly become the sandbox), all in it. The sandbox API is mounted in this very process and reached
 * over loopback, like the real one over HTTPS.
 */
export function livenessSection(c: Context, settings: Settings): z.ZodType<LivenessConfig> {
  if (c.isProduction || ANY.some((k) => settings[k] !== undefined)) {
    const why = c.isProduction ? IN_PRODUCTION : 'missing while other TENCENTCLOUD_* / FACEID_* settings are set (set all of them, or none for the sandbox FaceID)';
    return z.object({
      ...S,
      TENCENTCLOUD_SECRET_ID: need(why), TENCENTCLOUD_SECRET_KEY: need(why), FACEID_RULE_ID: need(why),
      LIVENESS_API_BASE: c.isProduction
        ? S.LIVENESS_API_BASE.refine((v) => v === undefined || v.startsWith('https://'), 'must be https:// when APP_ENV=production (ID numbers travel in it)')
        : S.LIVENESS_API_BASE,
    }).transform((s) => ({
      mode: 'real' as const,
      secretId: s.TENCENTCLOUD_SECRET_ID,
      secretKey: s.TENCENTCLOUD_SECRET_KEY,
      ruleId: s.FACEID_RULE_ID,
      region: s.FACEID_REGION,
      apiBase: trimSlashes(s.LIVENESS_API_BASE ?? 'https://faceid.tencentcloudapi.com'),
    }));
  }
  return z.object({ ...S, sandbox: sandboxSecrets('the sandbox FaceID') }).transform(({ sandbox, ...s }) => ({
    mode: 'sandbox' as const,
    secretId: sandbox.faceidSecretId,
    secretKey: sandbox.faceidSecretKey,
    ruleId: SANDBOX_FACEID_RULE_ID,
    apiBase: trimSlashes(s.LIVENESS_API_BASE ?? `http://127.0.0.1:${c.port}/sandbox/faceid/api`),
  }));
}
