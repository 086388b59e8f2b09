import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { type Clock } from '../../lib/clock';
import { readForm } from '../../lib/http/form';
import { pagePolicy } from '../../lib/http/security-headers';
import { type Logger } from '../../lib/logger';
import { maskIdNumber, maskName } from '../../lib/pii/id-number';
import { type RenderPage } from '../../lib/views';
import { FACEID_ALGORITHM, aesOpen, sandboxOpenKey, sandboxSealBody } from './faceid-crypto';
import { SANDBOX_FAIL, type SandboxFaceIdState } from './sandbox-state';

/**
 * The sandbox FaceID: the two actions our client uses, speaking Tencent Cloud API 3.0 (POST JSON, X-TC-Action
 * and X-TC-Version headers, TC3-HMAC-SHA256 checked, answers {"Response": {…, "RequestId"}} with
 * Response.Error {Code, Message} on refusal, HTTP 200 either way), plus the H5 page DetectAuth's Url opens.
 * Mounted at /sandbox/faceid: the API at /api/, the page at /h5/<BizToken>.
 */
type Json = Record<string, unknown>;
export class ApiRefusal {
  constructor(readonly code: string, readonly message: string) {}
}
const refuse = (code: string, message: string): never => {
  throw new ApiRefusal(code, message);
};

const SIGNATURE_WINDOW_S = 300;
const sha256hex = (v: string | Buffer) => createHash('sha256').update(v).digest('hex');
const hmac = (key: string | Buffer, v: string) => createHmac('sha256', key).update(v).digest();

/** Checks the Authorization header as Tencent Cloud does (the scope's service label is taken as sent: the SDK derives it from the endpoint's host). */
export function verifyTc3(ctx: Koa.Context, raw: string, state: Pick<SandboxFaceIdState, 'secretId' | 'secretKey'>, nowMs: number): void {
  const auth = ctx.get('authorization');
  const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) refuse('AuthFailure.InvalidAuthorization', 'Authorization header is missing or malformed.');
  const [, secretId, date, service, signedHeaders, signature] = m as unknown as string[];
  if (secretId !== state.secretId) refuse('AuthFailure.SecretIdNotFound', 'The SecretId is not found.');
  const ts = Number(ctx.get('x-tc-timestamp'));
  if (!Number.isInteger(ts) || Math.abs(nowMs / 1000 - ts) > SIGNATURE_WINDOW_S) refuse('AuthFailure.SignatureExpire', 'Signature expired. Timestamp and server time are out of range.');
  if (new Date(ts * 1000).toISOString().slice(0, 10) !== date) refuse('AuthFailure.SignatureFailure', 'The credential date does not match X-TC-Timestamp.');
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('content-type')) refuse('AuthFailure.SignatureFailure', 'SignedHeaders must include content-type and host.');
  const headerValue = (n: string) => (n === 'host' ? ctx.hostname : ctx.get(n)).trim().toLowerCase();
  const canonicalHeaders = names.map((n) => `${n}:${n === 'content-type' ? ctx.get(n).trim() : headerValue(n)}\n`).join('');
  const url = new URL(ctx.originalUrl, 'http://x');
  const canonical = ['POST', url.pathname, url.search.slice(1), canonicalHeaders, signedHeaders, sha256hex(raw)].join('\n');
  const stringToSign = ['TC3-HMAC-SHA256', String(ts), `${date}/${service}/tc3_request`, sha256hex(canonical)].join('\n');
  const kSigning = hmac(hmac(hmac(`TC3${state.secretKey}`, date!), service!), 'tc3_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex'))) refuse('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The symmetric key from a request's Encryption object, or undefined when the request is in the clear. */
function openKey(body: Json, state: SandboxFaceIdState): { key: string; iv: string; list: string[] } | undefined {
  const enc = body.Encryption as Json | undefined;
  if (!enc) return undefined;
  if (enc.Algorithm !== FACEID_ALGORITHM) refuse('InvalidParameterValue', 'Encryption.Algorithm is not supported (sandbox: AES-256-CBC).');
  try {
    return { key: sandboxOpenKey(state.privateKeyPem, str(enc.CiphertextBlob)), iv: str(enc.Iv), list: Array.isArray(enc.EncryptList) ? enc.EncryptList.map(String) : [] };
  } catch {
    return refuse('FailedOperation.DecryptSystemError', 'Decryption of the CiphertextBlob failed.');
  }
}

function detectAuth(body: Json, state: SandboxFaceIdState, nowMs: number): Json {
  const sealed = openKey(body, state);
  if (sealed) {
    for (const field of sealed.list) {
      if (field !== 'Name' && field !== 'IdCard') refuse('InvalidParameterValue', `Encryption.EncryptList: ${field} cannot be encrypted here.`);
      try {
        body = { ...body, [field]: aesOpen(sealed.key, sealed.iv, str(body[field])) };
      } catch {
        refuse('FailedOperation.DecryptSystemError', `Decryption of ${field} failed.`);
      }
    }
  }
  const ruleId = str(body.RuleId);
  if (!ruleId) refuse('MissingParameter', 'The request is missing a required parameter `RuleId`.');
  if (ruleId !== state.ruleId) refuse('InvalidParameterValue.RuleIdNotExist', 'RuleId does not exist.');
  const name = str(body.Name);
  const idCard = str(body.IdCard).toUpperCase();
  if (!name || !idCard) refuse('InvalidParameter', 'IdCard and Name are required for this rule.');
  if (!/^\d{17}[\dX]$/.test(idCard)) refuse('InvalidParameterValue', 'IdCard is invalid.');
  const redirectUrl = str(body.RedirectUrl);
  if (!/^https?:\/\//.test(redirectUrl) || redirectUrl.length > 1024) refuse('InvalidParameterValue', 'RedirectUrl is invalid.');
  const extra = str(body.Extra);
  if (extra.length > 1000) refuse('InvalidParameterValue', 'Extra is too long.');
  const check = state.create({ ruleId, name, idCard, redirectUrl, extra, fieldsEncrypted: !!sealed && sealed.list.includes('Name') && sealed.list.includes('IdCard') }, nowMs);
  return { Url: state.pageUrl(check.bizToken), BizToken: check.bizToken };
}

function getDetectInfoEnhanced(body: Json, state: SandboxFaceIdState, nowMs: number): Json {
  const bizToken = str(body.BizToken);
  if (!bizToken) refuse('MissingParameter', 'The request is missing a required parameter `BizToken`.');
  if (str(body.RuleId) !== state.ruleId) refuse('InvalidParameterValue.RuleIdNotExist', 'RuleId does not exist.');
  const check = state.get(bizToken);
  if (!check) refuse('InvalidParameterValue.BizTokenIllegal', 'BizToken is illegal.');
  if (nowMs > check!.createdAtMs + 3 * 24 * 3600_000) refuse('InvalidParameterValue.BizTokenExpired', 'BizToken has expired.');
  const infoType = str(body.InfoType) || '0';
  // Text only is what we ask for; anything else would be frames or video, which the sandbox has not got either.
  const text = !infoType.includes('1') && infoType !== '0' ? null : {
    ErrCode: check!.status === 'STARTED' ? null : check!.status === 'PASSED' ? 0 : SANDBOX_FAIL.code,
    ErrMsg: check!.status === 'STARTED' ? null : check!.status === 'PASSED' ? '成功' : SANDBOX_FAIL.msg,
    IdCard: check!.idCard,
    Name: check!.name,
    Extra: check!.extra,
    LiveStatus: check!.status === 'PASSED' ? 0 : null,
    Comparestatus: check!.status === 'PASSED' ? 0 : null,
    Sim: check!.status === 'PASSED' ? '95.00' : null,
  };
  const answer = { Text: text, IdCardData: null, BestFrame: null, VideoData: null };
  const sealed = body.IsEncryptResponse === true ? openKey(body, state) : undefined;
  if (!sealed) {
    state.answers.plain++;
    return { ...answer, Encryption: null };
  }
  state.answers.encrypted++;
  const { Iv, EncryptedBody } = sandboxSealBody(sealed.key, answer);
  return { Text: null, Encryption: { Algorithm: FACEID_ALGORITHM, EncryptList: ['EncryptionBody'], CiphertextBlob: '', Iv, TagList: [] }, EncryptedBody };
}

const ACTIONS: Record<string, (body: Json, state: SandboxFaceIdState, nowMs: number) => Json> = {
  DetectAuth: detectAuth,
  GetDetectInfoEnhanced: getDetectInfoEnhanced,
};

export function createSandboxFaceIdApp(state: SandboxFaceIdState, deps: { logger: Logger; clock: Clock; render: RenderPage }): Koa {
  const app = new Koa();
  const router = new Router();
  // The check page's address carries the BizToken: no Referer from it.
  app.use(pagePolicy({ noReferrer: true }));

  router.post(['/api', '/api/'], async (ctx) => {
    const requestId = randomUUID();
    let response: Json;
    try {
      const raw = await getRawBody(ctx.req, { limit: '64kb', encoding: 'utf-8' }).catch(() => refuse('InvalidParameter', 'Body too large or unreadable.'));
      verifyTc3(ctx, raw as string, state, deps.clock.nowMs());
      const action = ctx.get('x-tc-action');
      if (ctx.get('x-tc-version') !== '2018-03-01') refuse('InvalidParameterValue', 'The Version is not supported.');
      const handler = ACTIONS[action] ?? refuse('InvalidAction', `The action ${action} does not exist.`);
      let body: Json = {};
      try {
        body = raw ? (JSON.parse(raw as string) as Json) : {};
      } catch {
        refuse('InvalidParameter', 'The body is not JSON.');
      }
      response = { ...handler(body, state, deps.clock.nowMs()), RequestId: requestId };
    } catch (err) {
      if (!(err instanceof ApiRefusal)) throw err;
      deps.logger.info({ code: err.code }, 'sandbox faceid refused a call');
      response = { Error: { Code: err.code, Message: err.message }, RequestId: requestId };
    }
    ctx.set('X-TC-RequestId', requestId);
    ctx.body = { Response: response };
  });

  const view = (ctx: Koa.Context, step: 'intro' | 'capture' | 'result' | 'gone', check?: ReturnType<SandboxFaceIdState['get']>) => {
    ctx.status = step === 'gone' ? 404 : 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = deps.render('sandbox/faceid.njk', {
      sandbox: true,
      title: '人脸核验（沙箱）',
      step,
      bizToken: check?.bizToken,
      maskedName: check ? maskName(check.name) : '',
      maskedId: check ? maskIdNumber(check.idCard) : '',
      status: check?.status,
      self: ctx.originalUrl.split('?')[0]!.replace(/\/(decide|done)$/, ''),
    });
  };
  const live = (bizToken: string) => {
    const check = state.get(bizToken);
    return check && deps.clock.nowMs() <= check.expiresAtMs ? check : undefined;
  };

  router.get('/h5/:bizToken', (ctx) => {
    const check = live(ctx.params.bizToken!);
    if (!check) return view(ctx, 'gone');
    const step = check.status !== 'STARTED' ? 'result' : ctx.query.step === 'capture' ? 'capture' : 'intro';
    return view(ctx, step, check);
  });

  router.post('/h5/:bizToken/decide', async (ctx) => {
    const form = await readForm(ctx);
    const check = state.decide(ctx.params.bizToken!, form.decision === 'pass', deps.clock.nowMs());
    if (!check) return view(ctx, 'gone');
    ctx.redirect(ctx.originalUrl.split('?')[0]!.replace(/\/decide$/, ''));
  });

  // Back to the caller, as FaceID does: RedirectUrl plus the token. The caller must not believe anything in it.
  router.get('/h5/:bizToken/done', (ctx) => {
    const check = state.get(ctx.params.bizToken!);
    if (!check) return view(ctx, 'gone');
    const url = new URL(check.redirectUrl);
    url.searchParams.set('token', check.bizToken);
    ctx.redirect(url.toString());
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
