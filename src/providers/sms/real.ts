import { CommonClient } from 'tencentcloud-sdk-nodejs-common';
import { type Logger } from '../../lib/logger';
import { type SmsConfig } from './config';
import { type OutgoingSms, type SmsResult, type SmsSender, SmsRefusedError } from './types';

const REQUEST_TIMEOUT_S = 10;
/** SendStatusSet codes that no retry changes (Tencent Cloud SMS 错误码); anything else is tried again by the next run. */
const FINAL = /^(FailedOperation\.(PhoneNumberInBlacklist|PhoneNumberParseFail|TemplateIncorrectOrUnapproved|SignatureIncorrectOrUnapproved|ContainSensitiveWord|MissingSignature|MissingTemplate)|InvalidParameterValue\.|LimitExceeded\.(PhoneNumberDailyLimit|PhoneNumberThirtySecondLimit|PhoneNumberOneHourLimit|PhoneNumberSameContentDailyLimit)|UnauthorizedOperation\.|UnsupportedOperation\.)/;

/**
 * Tencent Cloud SMS (API 2021-01-11, SendSms) through the SDK's CommonClient, signed with TC3-HMAC-SHA256 as the
 * FaceID client is (src/providers/liveness/real.ts). One number per call: each reminder has its own row and outcome.
 */
export class TencentSmsSender implements SmsSender {
  readonly mode = 'real' as const;
  private readonly client: CommonClient;

  constructor(private readonly config: Extract<SmsConfig, { mode: 'real' }>, private readonly logger: Logger) {
    const base = new URL(`${config.apiBase}/`);
    this.client = new CommonClient('sms.tencentcloudapi.com', '2021-01-11', {
      credential: { secretId: config.secretId, secretKey: config.secretKey },
      region: config.region,
      profile: {
        signMethod: 'TC3-HMAC-SHA256',
        httpProfile: { protocol: `${base.protocol}//`, endpoint: `${base.host}${base.pathname.replace(/\/+$/, '')}`, reqMethod: 'POST', reqTimeout: REQUEST_TIMEOUT_S },
      },
    });
  }

  async send(sms: OutgoingSms): Promise<SmsResult> {
    let res: Record<string, unknown>;
    try {
      res = (await this.client.request('SendSms', {
        PhoneNumberSet: [`+86${sms.phone}`], SmsSdkAppId: this.config.sdkAppId, SignName: this.config.signName,
        TemplateId: this.config.templates[sms.template], TemplateParamSet: sms.params, SessionContext: sms.reference,
      })) as Record<string, unknown>;
    } catch (err) {
      const e = err as { code?: string; requestId?: string };
      // The message may echo the number: log the code and request id only.
      this.logger.warn({ code: e.code, requestId: e.requestId }, 'SendSms call failed');
      if (e.code && FINAL.test(e.code)) throw new SmsRefusedError(e.code, `SendSms refused: ${e.code}`);
      throw new Error(`SendSms failed: ${e.code ?? 'network'} (RequestId ${e.requestId ?? '-'})`, { cause: err });
    }
    const status = (Array.isArray(res.SendStatusSet) ? res.SendStatusSet[0] : undefined) as { Code?: string; SerialNo?: string } | undefined;
    if (status?.Code === 'Ok') return { serialNo: String(status.SerialNo ?? '') };
    const code = status?.Code ?? 'missing SendStatusSet';
    if (FINAL.test(code)) throw new SmsRefusedError(code, `SendSms refused: ${code}`);
    throw new Error(`SendSms did not send: ${code}`);
  }
}
