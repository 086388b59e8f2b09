import { type SandboxSecrets } from '../../config/sandbox-secrets';
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

const REQUIRED = ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'FACEID_RULE_ID'] as const;
const ANY = [...REQUIRED, 'FACEID_REGION'] as const;
export const SANDBOX_FACEID_RULE_ID = '1';
/**
 * Where DetectAuth's `Url` (the FaceID H5 check page) lives: Tencent's qq.com hosts. The handler form posts to us and
 * we redirect there, so the pages' form-action must allow it (browsers apply form-action to a form's redirects).
 */
export const FACEID_PAGE_ORIGINS: readonly string[] = ['https://*.qq.com'];

/**
 * All or none outside production (a half-configured FaceID must not quietly become the sandbox), all in it.
 * The sandbox API is mounted in this very process and reached over loopback, like the real one over HTTPS.
 */
export function buildLivenessConfig(settings: Settings, sandbox: SandboxSecrets | undefined, port: number): { config?: LivenessConfig; problems: string[] } {
  const isProduction = settings.APP_ENV === 'production';
  const realMode = isProduction || ANY.some((k) => settings[k] !== undefined);
  const problems: string[] = [];
  if (realMode) {
    const why = isProduction ? 'required when APP_ENV=production' : 'missing while other TENCENTCLOUD_* / FACEID_* settings are set (set all of them, or none for the sandbox FaceID)';
    for (const name of REQUIRED) if (settings[name] === undefined) problems.push(`${name}: ${why}`);
    if (isProduction && settings.LIVENESS_API_BASE && !settings.LIVENESS_API_BASE.startsWith('https://')) {
      problems.push('LIVENESS_API_BASE: must be https:// when APP_ENV=production (ID numbers travel in it)');
    }
    if (problems.length) return { problems };
    return {
      problems,
      config: {
        mode: 'real',
        secretId: settings.TENCENTCLOUD_SECRET_ID!,
        secretKey: settings.TENCENTCLOUD_SECRET_KEY!,
        ruleId: settings.FACEID_RULE_ID!,
        region: settings.FACEID_REGION,
        apiBase: (settings.LIVENESS_API_BASE ?? 'https://faceid.tencentcloudapi.com').replace(/\/+$/, ''),
      },
    };
  }
  if (!sandbox) return { problems: ['internal: the sandbox FaceID needs the sandbox secrets from DATA_DIR'] };
  return {
    problems,
    config: {
      mode: 'sandbox',
      secretId: sandbox.faceidSecretId,
      secretKey: sandbox.faceidSecretKey,
      ruleId: SANDBOX_FACEID_RULE_ID,
      apiBase: (settings.LIVENESS_API_BASE ?? `http://127.0.0.1:${port}/sandbox/faceid/api`).replace(/\/+$/, ''),
    },
  };
}
