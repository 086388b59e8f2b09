import argon2 from 'argon2';
import { generateSecret, generateURI, verify as verifyTotpCode } from 'otplib';
import { In } from 'typeorm';
import { type Deps } from '../../deps';
import { ConflictError, ValidationError } from '../../lib/errors';
import { type Operator, OperatorEntity } from './entities';
import { formatRoles, type OperatorRole, parseRoles } from './roles';

/** What a request knows about the operator it serves (ctx.state.operator). */
export interface OperatorIdentity {
  id: number;
  username: string;
  displayName: string;
  roles: OperatorRole[];
}

export const TOTP_PURPOSE = 'operator-totp';
const TOTP_PERIOD_S = 30;
/** Codes of the step before and after the current one pass too: phones drift, people type slowly. */
const TOTP_TOLERANCE_S = 30;
const USERNAME = /^[a-z][a-z0-9._-]{2,31}$/;
/**
 * argon2id at OWASP's recommended floor (m=19 MiB, t=2, p=1): a login costs ≈ 50 ms of one core instead of the
 * library default's ≈ 250 ms on all four, so twenty failed logins (the per-address limit) cannot starve a 2-core
 * server. Hashes carry their parameters: raising them later re-hashes nothing, old hashes still verify.
 */
const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
let dummyHash: Promise<string> | undefined;

export const identityOf = (op: Operator): OperatorIdentity => ({ id: op.id, username: op.username, displayName: op.displayName, roles: parseRoles(op.roles) });

export function checkPassword(password: string): void {
  if (password.length < 12) throw new ValidationError('密码至少 12 位', 'operator password too short');
  if (password.length > 128) throw new ValidationError('密码不能超过 128 位', 'operator password too long');
}

/** Operators: their records, passwords and TOTP. Sessions and lockouts are the login routes' (auth.ts). */
export class OperatorService {
  constructor(private readonly deps: Pick<Deps, 'db' | 'clock' | 'pii' | 'logger'>) {}

  private get repo() {
    return this.deps.db.getRepository(OperatorEntity);
  }

  byId(id: number): Promise<Operator | null> {
    return this.repo.findOne({ where: { id } });
  }

  byUsername(username: string): Promise<Operator | null> {
    return this.repo.findOne({ where: { username: username.trim().toLowerCase() } });
  }

  list(): Promise<Operator[]> {
    return this.repo.find({ order: { id: 'ASC' } });
  }

  async countActiveWithRole(role: OperatorRole): Promise<number> {
    const all = await this.repo.find({ where: { disabled: false } });
    return all.filter((op) => parseRoles(op.roles).includes(role)).length;
  }

  /** Creates an operator with a TOTP secret (returned once, in clear, for enrolment; stored sealed). */
  async create(input: { username: string; displayName: string; password: string; roles: OperatorRole[] }): Promise<{ operator: Operator; totpSecret: string }> {
    const username = input.username.trim().toLowerCase();
    if (!USERNAME.test(username)) throw new ValidationError('用户名须为 3-32 位小写字母、数字、点、下划线或短横线，以字母开头', `bad username ${username}`);
    const displayName = input.displayName.trim();
    if (!displayName || displayName.length > 32) throw new ValidationError('请填写姓名（不超过 32 个字）', 'bad display name');
    checkPassword(input.password);
    const totpSecret = generateSecret();
    const now = new Date(this.deps.clock.nowMs());
    const row = {
      username, displayName, passwordHash: await argon2.hash(input.password, HASH_OPTIONS), totpSecret: this.deps.pii.encrypt(totpSecret, TOTP_PURPOSE), totpLastStep: null,
      ukeyFingerprint: null, ukeyCertificatePem: null, roles: formatRoles(input.roles), disabled: false, lastLoginAt: null, createdAt: now, updatedAt: now,
    };
    try {
      const saved = await this.repo.save(row as Operator);
      return { operator: saved, totpSecret };
    } catch (err) {
      if (await this.byUsername(username)) throw new ConflictError(`用户名 ${username} 已存在`, 'operator username taken', { cause: err });
      throw err;
    }
  }

  /** Replaces the TOTP secret (lost phone): the old codes stop working at once. Returns the new secret, once. */
  async resetTotp(id: number): Promise<string> {
    const totpSecret = generateSecret();
    await this.repo.update({ id }, { totpSecret: this.deps.pii.encrypt(totpSecret, TOTP_PURPOSE), totpLastStep: null, updatedAt: new Date(this.deps.clock.nowMs()) });
    return totpSecret;
  }

  async setDisabled(id: number, disabled: boolean): Promise<void> {
    await this.repo.update({ id }, { disabled, updatedAt: new Date(this.deps.clock.nowMs()) });
  }

  async setRoles(id: number, roles: OperatorRole[]): Promise<void> {
    await this.repo.update({ id }, { roles: formatRoles(roles), updatedAt: new Date(this.deps.clock.nowMs()) });
  }

  async setPassword(id: number, password: string): Promise<void> {
    checkPassword(password);
    await this.repo.update({ id }, { passwordHash: await argon2.hash(password, HASH_OPTIONS), updatedAt: new Date(this.deps.clock.nowMs()) });
  }

  /**
   * The operator when the password is right and the account enabled, else null. An unknown name costs the same
   * argon2 work as a known one, so the answer time does not tell which names exist.
   */
  async checkPassword(username: string, password: string): Promise<Operator | null> {
    const op = await this.byUsername(username);
    if (!op) {
      dummyHash ??= argon2.hash('not-a-password-of-anyone', HASH_OPTIONS);
      await argon2.verify(await dummyHash, password).catch(() => false);
      return null;
    }
    const ok = await argon2.verify(op.passwordHash, password).catch(() => false);
    return ok && !op.disabled ? op : null;
  }

  /**
   * Accepts a TOTP code once: the code's time step must be later than the last accepted one, and the conditional
   * UPDATE recording it decides between two logins racing with the same code (only one changes the row).
   */
  async acceptTotp(op: Operator, code: string, reason: string): Promise<boolean> {
    if (!op.totpSecret || !/^\d{6}$/.test(code)) return false;
    const secret = this.deps.pii.decrypt(op.totpSecret, TOTP_PURPOSE, { actor: `operator:${op.id}`, reason, subject: `operator:${op.id}` });
    const epoch = Math.floor(this.deps.clock.nowMs() / 1000);
    const result = await verifyTotpCode({
      secret, token: code, epoch, period: TOTP_PERIOD_S, epochTolerance: TOTP_TOLERANCE_S,
      ...(op.totpLastStep !== null ? { afterTimeStep: Math.min(op.totpLastStep, Math.floor(epoch / TOTP_PERIOD_S)) } : {}),
    }).catch((err: unknown) => {
      this.deps.logger.warn({ err, operatorId: op.id }, 'TOTP verification failed to run');
      return { valid: false as const };
    });
    if (!result.valid || !('timeStep' in result)) return false;
    const step = result.timeStep;
    const updated = await this.repo.createQueryBuilder().update(OperatorEntity)
      .set({ totpLastStep: step })
      .where('id = :id AND (totp_last_step IS NULL OR totp_last_step < :step)', { id: op.id, step })
      .execute();
    return (updated.affected ?? 0) === 1;
  }

  async recordLogin(id: number): Promise<void> {
    await this.repo.update({ id }, { lastLoginAt: new Date(this.deps.clock.nowMs()) });
  }

  totpUri(username: string, secret: string): string {
    return generateURI({ issuer: '数安CA管家控制台', label: username, secret, period: TOTP_PERIOD_S });
  }

  async namesOf(ids: number[]): Promise<Map<number, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.repo.find({ where: { id: In([...new Set(ids)]) } });
    return new Map(rows.map((r) => [r.id, r.displayName]));
  }
}
