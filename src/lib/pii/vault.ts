import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for personal data (ID numbers first), with keys that live in settings, never in the
 * database: a stolen dump without the environment reveals nothing.
 *
 * Ciphertext format (ASCII, fits a VARCHAR(255) for an 18-character value):
 *   v1.<keyId>.<iv, 12 bytes base64url>.<ciphertext base64url>.<GCM tag, 16 bytes base64url>
 * The AAD binds the version, key id and the field's purpose, so a value cannot be moved to another column
 * (or its key id edited) without the tag check failing.
 *
 * Rotation: PII_ENCRYPTION_KEY lists keys as `id:base64` separated by commas, the first one active. New
 * values use the active key; older ones still decrypt by their key id, and `needsReencryption` finds them.
 * The HMAC index key (PII_HMAC_KEY) is separate: lookups ("is this ID number already verified?") compare
 * HMACs, never decrypt. Rotating it means recomputing every index, so it has no key id.
 */
export interface PiiKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Who read a plaintext and why: every decrypt reports one, and nothing decrypts without one. */
export interface PiiAccess {
  /** 'system:liveness', 'operator:<id>', 'handler:<openid tail>' … never the value itself. */
  actor: string;
  /** Why it was needed: 'liveness-start', 'operator-review', … */
  reason: string;
  /** What record it belongs to (an id, not the value), for the audit trail. */
  subject?: string;
}

export interface PiiAuditEvent extends PiiAccess {
  purpose: string;
  keyId: string;
  atMs: number;
}

export type PiiAuditHook = (event: PiiAuditEvent) => void;

export class PiiVaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PiiVaultError';
  }
}

const VERSION = 'v1';
const BYTES_VERSION = 0x01;
const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;

/** Parses `id:base64[,id:base64…]`; throws with a message fit for a SettingsError (never the key). */
export function parsePiiKeys(value: string): PiiKey[] {
  const keys = value.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const at = part.indexOf(':');
    const id = at > 0 ? part.slice(0, at) : '';
    if (!KEY_ID.test(id)) throw new Error('each key must look like <id>:<base64 of 32 bytes>, the id 1-16 letters, digits, _ or -');
    const key = Buffer.from(part.slice(at + 1), 'base64');
    if (key.length !== 32) throw new Error(`key ${id}: must be 32 bytes, base64`);
    return { id, key };
  });
  if (keys.length === 0) throw new Error('needs at least one key');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('key ids must be distinct');
  return keys;
}

export class PiiVault {
  private readonly keys: Map<string, Buffer>;
  private readonly active: PiiKey;

  constructor(
    keys: PiiKey[],
    private readonly hmacKey: Buffer,
    private readonly audit: PiiAuditHook,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (keys.length === 0) throw new PiiVaultError('no encryption key');
    if (hmacKey.length < 32) throw new PiiVaultError('the HMAC key must be at least 32 bytes');
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.active = keys[0]!;
  }

  get activeKeyId(): string {
    return this.active.id;
  }

  /** `purpose` names the field ('id-number'); the same purpose must be given to decrypt. */
  encrypt(plaintext: string, purpose: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    cipher.setAAD(aad(this.active.id, purpose));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.active.id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Decrypts and reports the access to the audit hook first (an audit failure stops the read). */
  decrypt(sealed: string, purpose: string, access: PiiAccess): string {
    const { keyId, iv, ct, tag } = this.parse(sealed);
    const key = this.keys.get(keyId);
    if (!key) throw new PiiVaultError(`unknown key id ${keyId} (was it removed from PII_ENCRYPTION_KEY too early?)`);
    if (!access.actor || !access.reason) throw new PiiVaultError('a decrypt needs an actor and a reason');
    this.audit({ ...access, purpose, keyId, atMs: this.nowMs() });
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(aad(keyId, purpose));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new PiiVaultError('ciphertext failed authentication (tampered, wrong purpose or wrong key)');
    }
  }

  /**
   * Binary counterpart of encrypt, for documents (ID card photos): no base64, so a 5 MB image stays ~5 MB.
   * Layout: 0x01 | keyId length (1 byte) | keyId | iv (12) | tag (16) | ciphertext; same AAD as encrypt,
   * with a `bytes:` prefix so a sealed string can never be opened as bytes or the other way round.
   */
  encryptBytes(plaintext: Buffer, purpose: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    cipher.setAAD(aad(this.active.id, `bytes:${purpose}`));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(this.active.id, 'ascii');
    return Buffer.concat([Buffer.from([BYTES_VERSION, id.length]), id, iv, cipher.getAuthTag(), ct]);
  }

  /** Opens encryptBytes' output; audited exactly like decrypt (an audit failure stops the read). */
  decryptBytes(sealed: Buffer, purpose: string, access: PiiAccess): Buffer {
    const idLength = sealed[1] ?? 0;
    if (sealed[0] !== BYTES_VERSION || idLength < 1 || sealed.length < 2 + idLength + 28) throw new PiiVaultError('not a sealed value');
    const keyId = sealed.subarray(2, 2 + idLength).toString('ascii');
    const key = this.keys.get(keyId);
    if (!key) throw new PiiVaultError(`unknown key id ${keyId} (was it removed from PII_ENCRYPTION_KEY too early?)`);
    if (!access.actor || !access.reason) throw new PiiVaultError('a decrypt needs an actor and a reason');
    this.audit({ ...access, purpose, keyId, atMs: this.nowMs() });
    const at = 2 + idLength;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(at, at + 12));
      decipher.setAAD(aad(keyId, `bytes:${purpose}`));
      decipher.setAuthTag(sealed.subarray(at + 12, at + 28));
      return Buffer.concat([decipher.update(sealed.subarray(at + 28)), decipher.final()]);
    } catch {
      throw new PiiVaultError('ciphertext failed authentication (tampered, wrong purpose or wrong key)');
    }
  }

  keyIdOf(sealed: string): string {
    return this.parse(sealed).keyId;
  }

  needsReencryption(sealed: string): boolean {
    return this.keyIdOf(sealed) !== this.active.id;
  }

  /** For a rotation job: decrypts under the old key (audited) and seals under the active one. */
  reencrypt(sealed: string, purpose: string, access: PiiAccess): string {
    if (!this.needsReencryption(sealed)) return sealed;
    return this.encrypt(this.decrypt(sealed, purpose, access), purpose);
  }

  /**
   * A keyed, deterministic index: equal inputs give equal hex strings, so a unique column or a lookup works
   * without decrypting. Domain-separated by purpose so an ID-number index never equals another field's.
   * Callers pass the normalized value (normalizeIdNumber) so "x" and "X" index alike.
   */
  index(value: string, purpose: string): string {
    return createHmac('sha256', this.hmacKey).update(`${purpose}\0${value}`, 'utf8').digest('hex');
  }

  private parse(sealed: string) {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new PiiVaultError('not a sealed value');
    const [, keyId, iv, ct, tag] = parts as [string, string, string, string, string];
    const ivBuf = Buffer.from(iv, 'base64url');
    const tagBuf = Buffer.from(tag, 'base64url');
    if (ivBuf.length !== 12 || tagBuf.length !== 16) throw new PiiVaultError('not a sealed value');
    return { keyId, iv: ivBuf, ct: Buffer.from(ct, 'base64url'), tag: tagBuf };
  }
}

function aad(keyId: string, purpose: string): Buffer {
  return Buffer.from(`${VERSION}|${keyId}|${purpose}`, 'utf8');
}

/** The default audit hook: one structured log line per decrypt, with who and why, never the value. */
export function logAuditHook(logger: { info(obj: object, msg: string): void }): PiiAuditHook {
  return (event) => logger.info({ pii: { actor: event.actor, reason: event.reason, subject: event.subject, purpose: event.purpose, keyId: event.keyId } }, 'pii decrypted');
}
