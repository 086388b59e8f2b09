import { CommonClient } from 'tencentcloud-sdk-nodejs-common';
import { UpstreamError } from '../../lib/errors';
import { type Logger } from '../../lib/logger';
import { type KeyValueStore } from '../../lib/store/types';
import { type Clock } from '../../lib/clock';
import { type LivenessConfig } from './config';
import { aesOpen, faceIdPublicKey, sealFields, sealForResponse } from './faceid-crypto';
import {
  type LivenessExpectation, type LivenessProvider, type LivenessRefusal, type LivenessResult, type LivenessSession, type LivenessStartInput, type LivenessVerdict,
} from './types';

/**
 * Tencent Cloud FaceID (人脸核身, API 2018-03-01) through the SDK's CommonClient: the product-specific
 * package is not published on npm, and the full SDK is ~100 MB for two calls. CommonClient signs with
 * TC3-HMAC-SHA256 exactly like the product clients. Its endpoint is our setting, so the same code runs
 * against the sandbox FaceID over plain HTTP in tests and in the embedded default.
 */
export const BIZTOKEN_TTL_MS = 7_200_000;
/** GetDetectInfoEnhanced answers for 3 days after DetectAuth; remember a used token a little longer. */
const USED_TTL_MS = 4 * 24 * 3600_000;
const REQUEST_TIMEOUT_S = 10;

const USER_MESSAGES: Record<LivenessRefusal, string> = {
  PENDING: '人脸核验尚未完成，请完成核验后再返回',
  NOT_PASSED: '人脸核验未通过，请重新核验',
  MISMATCH: '核验结果与您填写的姓名或身份证号不一致，请重新核验',
  WRONG_REFERENCE: '核验结果不属于本次申请，请重新核验',
  ALREADY_USED: '本次核验结果已使用，如需再次核验请重新发起',
};

interface ApiError {
  code?: string;
  message?: string;
  requestId?: string;
}

export function createFaceIdClient(config: LivenessConfig): CommonClient {
  const base = new URL(`${config.apiBase}/`);
  return new CommonClient('faceid.tencentcloudapi.com', '2018-03-01', {
    credential: { secretId: config.secretId, secretKey: config.secretKey },
    region: config.region,
    profile: {
      signMethod: 'TC3-HMAC-SHA256',
      // The SDK builds protocol + endpoint + "/": the endpoint may carry a path (the sandbox's mount point).
      httpProfile: { protocol: `${base.protocol}//`, endpoint: `${base.host}${base.pathname.replace(/\/+$/, '')}`, reqMethod: 'POST', reqTimeout: REQUEST_TIMEOUT_S },
    },
  });
}

export class TencentFaceIdProvider implements LivenessProvider {
  readonly mode: 'real' | 'sandbox';
  private readonly client: CommonClient;
  private readonly publicKey;

  /** `encryptionPublicKeyPem`: FaceID's published key by default; the sandbox FaceID's own in sandbox mode. */
  constructor(
    private readonly config: LivenessConfig,
    private readonly deps: { store: KeyValueStore; logger: Logger; clock: Clock; encryptionPublicKeyPem?: string },
  ) {
    this.mode = config.mode;
    this.client = createFaceIdClient(config);
    this.publicKey = faceIdPublicKey(deps.encryptionPublicKeyPem);
  }

  async start(input: LivenessStartInput): Promise<LivenessSession> {
    const startedAt = this.deps.clock.nowMs();
    // Name and ID number travel encrypted (FaceID's 敏感数据加密), not only inside TLS.
    const sealed = sealFields(this.publicKey, { Name: input.name, IdCard: input.idNumber });
    const res = await this.call('DetectAuth', { RuleId: this.config.ruleId, RedirectUrl: input.redirectUrl, Extra: input.reference, ...sealed.params });
    const url = typeof res.Url === 'string' ? res.Url : '';
    const bizToken = typeof res.BizToken === 'string' ? res.BizToken : '';
    if (!url || !bizToken) throw new UpstreamError('人脸核验服务暂时不可用，请稍后再试', 'FaceID DetectAuth answered without Url/BizToken');
    return { url, bizToken, expiresAt: new Date(startedAt + BIZTOKEN_TTL_MS) };
  }

  async result(bizToken: string): Promise<LivenessResult> {
    // InfoType "1" = text only. ("0" would mean everything: ID card photos, best frames, video.)
    // The answer comes back encrypted with a key only this call knows (IsEncryptResponse).
    const { key, encryption } = sealForResponse(this.publicKey);
    const res = await this.call('GetDetectInfoEnhanced', { BizToken: bizToken, RuleId: this.config.ruleId, InfoType: '1', Encryption: encryption, IsEncryptResponse: true });
    const body = this.openResponse(res, key);
    const text = (body.Text && typeof body.Text === 'object' ? body.Text : {}) as Record<string, unknown>;
    const errCode = typeof text.ErrCode === 'number' ? text.ErrCode : null;
    return {
      passed: errCode === 0,
      errCode,
      errMsg: typeof text.ErrMsg === 'string' ? text.ErrMsg : '',
      name: typeof text.Name === 'string' ? text.Name : undefined,
      idNumber: typeof text.IdCard === 'string' ? text.IdCard.toUpperCase() : undefined,
      reference: typeof text.Extra === 'string' ? text.Extra : undefined,
    };
  }

  async verify(bizToken: string, expected: LivenessExpectation): Promise<LivenessVerdict> {
    const result = await this.result(bizToken);
    const refuse = (refusal: LivenessRefusal): LivenessVerdict => ({ passed: false, refusal, errCode: result.errCode, errMsg: result.errMsg, userMessage: USER_MESSAGES[refusal] });
    if (result.errCode === null) return refuse('PENDING');
    // Any final answer uses the token up, first come first served across instances (the store is shared).
    const fresh = await this.deps.store.set(`liveness:used:${bizToken}`, String(this.deps.clock.nowMs()), { ttlMs: USED_TTL_MS, onlyIfAbsent: true });
    if (!fresh) return refuse('ALREADY_USED');
    if (!result.passed) return refuse('NOT_PASSED');
    if (result.reference !== expected.reference) return refuse('WRONG_REFERENCE');
    if (result.name !== expected.name.trim() || result.idNumber !== expected.idNumber.toUpperCase()) return refuse('MISMATCH');
    return { passed: true, errCode: 0, errMsg: result.errMsg };
  }

  private openResponse(res: Record<string, unknown>, key: string): Record<string, unknown> {
    if (typeof res.EncryptedBody !== 'string') {
      this.deps.logger.warn('faceid answered GetDetectInfoEnhanced in the clear although encryption was asked for');
      return res;
    }
    try {
      const iv = String((res.Encryption as { Iv?: unknown } | null)?.Iv ?? '');
      const parsed = JSON.parse(aesOpen(key, iv, res.EncryptedBody)) as Record<string, unknown>;
      // Tencent's demo does not say whether the plaintext is the Response object or wraps it: accept both.
      return (parsed.Response && typeof parsed.Response === 'object' ? parsed.Response : parsed) as Record<string, unknown>;
    } catch (err) {
      throw new UpstreamError('人脸核验服务暂时不可用，请稍后再试', 'FaceID GetDetectInfoEnhanced: the encrypted answer does not open', 'EncryptedBody', { cause: err });
    }
  }

  private async call(action: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return (await this.client.request(action, params)) as Record<string, unknown>;
    } catch (err) {
      const e = err as ApiError;
      // The message may echo parameters; log the code and request id only (no name, no ID number).
      this.deps.logger.warn({ action, code: e.code, requestId: e.requestId }, 'faceid call failed');
      throw new UpstreamError('人脸核验服务暂时不可用，请稍后再试', `FaceID ${action} failed: ${e.code ?? 'network'} (RequestId ${e.requestId ?? '-'})`, e.code, { cause: err });
    }
  }
}
