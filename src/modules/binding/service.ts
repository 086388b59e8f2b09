import { type Deps } from '../../deps';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, ValidationError } from '../../lib/errors';
import { createLimiter, FailureLimit, LockedOutError, spendAll } from '../../lib/http/rate-limit';
import { openidTail } from '../../lib/logger';
import { type Certificate } from '../certificates/entities';
import { CertificateRepository } from '../certificates/repository';
import { BINDING_CODE_TTL_MS, BindingCodeService, looksLikeBindingCode, MAX_WRONG_MEDIA_TRIES, normaliseBindingCode } from './codes';
import { type BindingCode } from './entities';
import { BindingRepository } from './repository';

export interface RedeemInput {
  openid: string;
  unionid?: string | null;
  ip: string;
  /** Typed by the user … */
  code?: string;
  /** … or resolved from a scanned QR token earlier (the row id kept in the session). */
  codeId?: number;
  mediaLast4: string;
}

export interface RedeemResult {
  certificate: Certificate;
  /** False when this openid was already bound to the certificate (a double tap, a retried request). */
  created: boolean;
}

const WINDOW_SEC = 15 * 60;

export class BindingError extends ValidationError {
  constructor(readonly reason: 'bad-code' | 'expired' | 'used' | 'burnt' | 'wrong-media', message: string, detail: string) {
    super(message, detail);
  }
}

/**
 * The phone half of binding: a handler types the code from the PC (or scanned its QR) and the last 4 characters
 * of the U-KEY's 介质编号. Guessing is bounded three ways: per openid and per IP (failures in 15 minutes, in the
 * shared store), and per code (5 wrong last-4 tries burn it, counted in the code's row and the store). Each
 * limit is spent before a guess is judged and given back when it was right.
 */
export class BindingService {
  readonly codes: BindingCodeService;
  private readonly bindings = new BindingRepository();
  private readonly certificates = new CertificateRepository();
  private readonly perOpenid: FailureLimit;
  private readonly perIp: FailureLimit;
  private readonly perCode: FailureLimit;

  constructor(private readonly deps: Deps) {
    this.codes = new BindingCodeService(deps);
    this.perOpenid = new FailureLimit(createLimiter(deps, 'bind:openid', 10, WINDOW_SEC), 'bind per-openid');
    // Generous: a company's phones on one Wi-Fi share an address.
    this.perIp = new FailureLimit(createLimiter(deps, 'bind:ip', 30, WINDOW_SEC), 'bind per-IP');
    this.perCode = new FailureLimit(createLimiter(deps, 'bind:code', MAX_WRONG_MEDIA_TRIES, BINDING_CODE_TTL_MS / 1000), 'bind per-code');
  }

  async redeem(input: RedeemInput): Promise<RedeemResult> {
    // A point is spent per guess before it is judged, so parallel guesses cannot all slip past the limit.
    const giveBack = await spendAll([[this.perOpenid, input.openid], [this.perIp, input.ip]]);
    let result: RedeemResult;
    try {
      result = await this.attempt(input);
    } catch (err) {
      if (err instanceof BindingError) this.deps.logger.info({ openid: openidTail(input.openid), reason: err.reason }, 'binding refused');
      else await giveBack(); // a malformed form or our own failure is not a wrong guess
      throw err;
    }
    await this.perOpenid.reset(input.openid);
    await this.perIp.giveBack(input.ip);
    return result;
  }

  /**
   * A QR scan: spends the token (single use) under the same per-openid and per-IP limits as a typed code, so
   * tokens cannot be tried in bulk either. Returns the code's row, or null when the token is unknown or spent.
   */
  async scanQrToken(openid: string, ip: string, token: string): Promise<BindingCode | null> {
    const giveBack = await spendAll([[this.perOpenid, openid], [this.perIp, ip]]);
    let row: BindingCode | null;
    try {
      row = await this.codes.spendQrToken(token);
    } catch (err) {
      await giveBack();
      throw err;
    }
    if (row) await giveBack();
    else this.deps.logger.info({ openid: openidTail(openid) }, 'QR token refused');
    return row;
  }

  private async attempt(input: RedeemInput): Promise<RedeemResult> {
    const now = new Date(this.deps.clock.nowMs());
    const last4 = input.mediaLast4.trim().toUpperCase();
    if (!/^[0-9A-Z]{4}$/.test(last4)) throw new ValidationError('请输入介质编号的后四位', `media last-4 malformed (length ${last4.length})`);
    const row = await this.findCode(input);
    if (row.usedAt) {
      // The same person tapping twice gets the success page again; anyone else is told it is used.
      if (row.usedByOpenid === input.openid) return this.alreadyBound(row, input.openid);
      throw new BindingError('used', '绑定码已使用，请在电脑上重新获取', `code ${row.id} already used`);
    }
    if (row.expiresAt <= now) throw new BindingError('expired', '绑定码已过期，请在电脑上重新获取', `code ${row.id} expired at ${row.expiresAt.toISOString()}`);
    if (row.failedAttempts >= MAX_WRONG_MEDIA_TRIES) throw this.burnt(row);

    const certificate = await this.certificates.findById(this.deps.db.manager, row.certificateId);
    if (!certificate) throw new BindingError('bad-code', '绑定码错误，请核对后重新输入', `code ${row.id} names missing certificate ${row.certificateId}`);
    // The code's own limit is spent before the last 4 are compared, so parallel guesses at one code cannot
    // outrun its count either.
    const leftForCode = await this.perCode.spend(String(row.id)).catch((err: unknown) => {
      throw err instanceof LockedOutError ? this.burnt(row) : err;
    });
    const expected = (certificate.mediaSerial ?? '').toUpperCase().slice(-4);
    if (expected.length !== 4 || expected !== last4) {
      const failures = await this.codes.recordWrongMediaDigits(this.deps.db.manager, row.id);
      const left = Math.min(MAX_WRONG_MEDIA_TRIES - failures, leftForCode);
      if (left <= 0) throw this.burnt(row);
      throw new BindingError('wrong-media', `介质编号后四位不正确（还可尝试 ${left} 次）`, `wrong media digits for code ${row.id} (${failures} so far)`);
    }

    const claimAndBind = () => inTransaction(this.deps.db, async (em) => {
      if (!(await this.codes.claim(em, row.id, input.openid, now))) return null;
      return this.bindings.bind(em, {
        certificateId: certificate.id, openid: input.openid, unionid: input.unionid, source: 'capc', sandbox: certificate.sandbox,
      }, now);
    });
    // The binding's unique (certificate, openid) can clash with a legacy restore inserting the same pair at the same
    // moment: the whole transaction (the claim too) rolled back, so one rerun finds that row and reuses it.
    const outcome = await claimAndBind().catch((err: unknown) => {
      if (isUniqueViolation(err)) return claimAndBind();
      throw err;
    });
    if (!outcome) {
      // Someone else claimed it between our read and our write: exactly one phone wins a code.
      const fresh = await this.codes.findById(this.deps.db.manager, row.id);
      if (fresh?.usedByOpenid === input.openid) return this.alreadyBound(fresh, input.openid);
      throw new BindingError('used', '绑定码已使用，请在电脑上重新获取', `code ${row.id} claimed concurrently`);
    }
    this.deps.logger.info({ openid: openidTail(input.openid), certificateId: certificate.id, created: outcome.created }, 'certificate bound');
    return { certificate, created: outcome.created };
  }

  private async findCode(input: RedeemInput): Promise<BindingCode> {
    const em = this.deps.db.manager;
    if (input.codeId !== undefined) {
      const row = await this.codes.findById(em, input.codeId);
      if (row) return row;
      throw new BindingError('bad-code', '二维码已失效，请手动输入电脑上显示的绑定码', `scanned code ${input.codeId} no longer exists (replaced)`);
    }
    const code = normaliseBindingCode(input.code ?? '');
    if (!code) throw new ValidationError('请输入绑定码', 'empty binding code');
    const row = looksLikeBindingCode(code) ? await this.codes.findByCode(em, code) : null;
    if (!row) throw new BindingError('bad-code', '绑定码错误，请核对后重新输入', `no such code (length ${code.length})`);
    return row;
  }

  private burnt(row: BindingCode): BindingError {
    return new BindingError('burnt', '介质编号错误次数过多，该绑定码已失效，请在电脑上重新获取', `code ${row.id} burnt after ${MAX_WRONG_MEDIA_TRIES} wrong tries`);
  }

  private async alreadyBound(row: BindingCode, openid: string): Promise<RedeemResult> {
    const em = this.deps.db.manager;
    const certificate = await this.certificates.findById(em, row.certificateId);
    const binding = certificate && (await this.bindings.findActive(em, certificate.id, openid));
    if (!certificate || !binding) throw new BindingError('used', '绑定码已使用，请在电脑上重新获取', `code ${row.id} used by this openid but binding gone`);
    return { certificate, created: false };
  }

  /** Unbinds this openid from the certificate; 404-equivalent when it was not bound (no probing of ids). */
  async unbind(openid: string, certificateId: number): Promise<void> {
    const done = await inTransaction(this.deps.db, (em) => this.bindings.unbind(em, certificateId, openid, new Date(this.deps.clock.nowMs())));
    if (!done) throw new ConflictError('该证书未绑定或已解除绑定', `unbind of certificate ${certificateId} by ${openidTail(openid)} found no active binding`);
    this.deps.logger.info({ openid: openidTail(openid), certificateId }, 'certificate unbound');
  }
}
