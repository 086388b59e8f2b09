import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { createLogger } from '../../../../src/lib/logger';
import { ApiRefusal, verifyTc3 } from '../../../../src/providers/liveness/sandbox';
import { TencentSmsSender } from '../../../../src/providers/sms/real';
import { SmsRefusedError } from '../../../../src/providers/sms/types';

/**
 * The real SMS client (tencentcloud-sdk-nodejs-common, SendSms 2021-01-11) against a local double of the SMS API that
 * checks the TC3-HMAC-SHA256 signature as Tencent Cloud does and answers as the API documents.
 */
const CREDENTIALS = { secretId: 'AKIDsmsTest0123456789abcd', secretKey: 'smsTestSecretKey0123456789abcdef' };
const requests: Array<{ action: string; body: Record<string, unknown> }> = [];
let answer: (body: Record<string, unknown>) => Record<string, unknown> = () => ({});
let server: Server;
let base = '';

beforeAll(async () => {
  const app = new Koa();
  app.use(async (ctx) => {
    const raw = await getRawBody(ctx.req, { encoding: 'utf-8' });
    try {
      verifyTc3(ctx, raw, CREDENTIALS, Date.now());
      const body = JSON.parse(raw) as Record<string, unknown>;
      requests.push({ action: ctx.get('x-tc-action'), body });
      ctx.body = { Response: { ...answer(body), RequestId: 'req-sms-1' } };
    } catch (err) {
      if (!(err instanceof ApiRefusal)) throw err;
      ctx.body = { Response: { Error: { Code: err.code, Message: err.message }, RequestId: 'req-sms-1' } };
    }
  });
  server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const sender = (secretKey = CREDENTIALS.secretKey) => new TencentSmsSender({
  mode: 'real', ...CREDENTIALS, secretKey, region: 'ap-guangzhou', apiBase: base, sdkAppId: '1400000001', signName: '数安CA管家', templates: { renew: '200001', paid: '200002' },
}, createLogger('silent'));

describe('Tencent Cloud SMS client', () => {
  it('When a reminder SMS is sent, then SendSms goes out signed (TC3) with +86, the template, its params and our reference, and the SerialNo comes back', async () => {
    answer = () => ({ SendStatusSet: [{ SerialNo: '2640:1', PhoneNumber: '+8613800138000', Fee: 1, Code: 'Ok', Message: 'send success' }] });
    const result = await sender().send({ phone: '13800138000', template: 'paid', params: ['梅州测试单位', '2026-12-31', 'https://cam.example/gdca-page/redirect?busyType=8'], reference: 'expiry-7' });
    expect(result).toEqual({ serialNo: '2640:1' });
    expect(requests.at(-1)).toEqual({
      action: 'SendSms',
      body: { PhoneNumberSet: ['+8613800138000'], SmsSdkAppId: '1400000001', SignName: '数安CA管家', TemplateId: '200002', TemplateParamSet: ['梅州测试单位', '2026-12-31', 'https://cam.example/gdca-page/redirect?busyType=8'], SessionContext: 'expiry-7' },
    });
  });

  it('When the number is blacklisted (per-number status), or the daily cap is hit (API error), then the refusal is final (SmsRefusedError)', async () => {
    answer = () => ({ SendStatusSet: [{ SerialNo: '', PhoneNumber: '+8613800138000', Code: 'FailedOperation.PhoneNumberInBlacklist', Message: 'blacklist' }] });
    await expect(sender().send({ phone: '13800138000', template: 'renew', params: ['a', 'b'], reference: 'r' })).rejects.toBeInstanceOf(SmsRefusedError);
    answer = () => ({ Error: { Code: 'LimitExceeded.PhoneNumberDailyLimit', Message: 'daily limit' } });
    await expect(sender().send({ phone: '13800138000', template: 'renew', params: ['a', 'b'], reference: 'r' })).rejects.toMatchObject({ code: 'LimitExceeded.PhoneNumberDailyLimit' });
  });

  it('When the provider fails otherwise (internal error, bad signature), then the error is not final: the next run tries again', async () => {
    answer = () => ({ Error: { Code: 'InternalError.Timeout', Message: 'timeout' } });
    const err = await sender().send({ phone: '13800138000', template: 'renew', params: ['a', 'b'], reference: 'r' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SmsRefusedError);
    const bad = await sender('wrongSecretKey0123456789abcdefgh').send({ phone: '13800138000', template: 'renew', params: ['a', 'b'], reference: 'r' }).catch((e: unknown) => e);
    expect(String((bad as Error).message)).toContain('AuthFailure.SignatureFailure');
  });
});
