import { createCipheriv, createDecipheriv, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type CertificateUsage, type KeyAlgorithm } from '../../lib/pki/types';
import { agentErrors, KeyAgentError } from '../errors';

/**
 * Soft tokens on disk: one JSON file per token, `<dir>/<mediaSerial>.json`. They behave like a U-KEY where it
 * matters to the protocol (PIN with a try counter that locks, keys unusable without the PIN, pending installs)
 * but are a sandbox: anyone holding the file can try PINs offline, so they never hold real certificates' keys.
 *
 * PIN: scrypt(PIN, salt) gives 64 bytes; the first half is compared (constant time) with the stored
 * verifier, the second half is the key-encryption key that opens private keys (AES-256-GCM, the token serial
 * and key id bound in as associated data so a ciphertext cannot be moved to another token or key slot).
 */
export const SOFT_TOKEN_FORMAT = 1;
export const SOFT_TOKEN_MAX_TRIES = 6;
const SCRYPT = { N: 16384, r: 8, p: 1 } as const;

export interface SoftKeyRecord {
  keyId: string;
  algorithm: KeyAlgorithm;
  spkiDerBase64: string;
  /** AES-256-GCM of the PKCS#8 DER under the PIN-derived key. */
  sealed: { iv: string; tag: string; ciphertext: string };
  createdAt: string;
}

export interface SoftCertificateRecord {
  certificateId: string;
  /**
   * The certificate's key: the signing key, or for an SM2 encryption certificate the key imported from its
   * envelope at install (null in tokens written before protocol 2, which kept only the envelope).
   */
  keyId: string | null;
  pem: string;
  fingerprintSha256: string;
  usage: CertificateUsage;
  state: 'pending' | 'confirmed';
  /** The certificate this one replaces: removed on confirm, remembered so a repeated confirm answers the same. */
  replaces?: string;
  /** An SM2 encryption certificate installed with a signing certificate: confirmed and removed with it. */
  companionOf?: string;
  /** SM2 encryption pairs: the envelope as the CA sent it (kept for the record; the key itself is in `keys`). */
  envelopedKeyBase64?: string;
  installedAt: string;
}

export interface SoftTokenRecord {
  format: typeof SOFT_TOKEN_FORMAT;
  mediaSerial: string;
  label: string;
  createdAt: string;
  pin: { kdf: 'scrypt'; N: number; r: number; p: number; salt: string; verifier: string };
  maxTries: number;
  triesLeft: number;
  keys: SoftKeyRecord[];
  certificates: SoftCertificateRecord[];
}

const SERIAL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A serial becomes a file name: anything but plain characters (../, slashes) is refused. */
export function assertMediaSerial(mediaSerial: string): void {
  if (!SERIAL.test(mediaSerial)) throw agentErrors.invalidParams('介质编号格式不正确', `media serial ${JSON.stringify(mediaSerial)} is not [A-Za-z0-9_-]{1,64}`);
}

function deriveFromPin(pin: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<{ verifier: Buffer; kek: Buffer }> {
  return new Promise((ok, fail) =>
    scrypt(pin.normalize('NFC'), salt, 64, { ...params, maxmem: 64 * 1024 * 1024 }, (err, out) =>
      err ? fail(err) : ok({ verifier: out.subarray(0, 32), kek: out.subarray(32) }),
    ),
  );
}

export async function newPinRecord(pin: string): Promise<{ record: SoftTokenRecord['pin']; kek: Buffer }> {
  const salt = randomBytes(16);
  const { verifier, kek } = await deriveFromPin(pin, salt, SCRYPT);
  return { record: { kdf: 'scrypt', ...SCRYPT, salt: salt.toString('base64'), verifier: verifier.toString('base64') }, kek };
}

const aadOf = (mediaSerial: string, keyId: string) => Buffer.from(`${mediaSerial}/${keyId}`, 'utf8');

export function sealKey(kek: Buffer, mediaSerial: string, keyId: string, pkcs8Der: Uint8Array): SoftKeyRecord['sealed'] {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(aadOf(mediaSerial, keyId));
  const ciphertext = Buffer.concat([cipher.update(pkcs8Der), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

export function openKey(kek: Buffer, mediaSerial: string, key: SoftKeyRecord): Uint8Array {
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(key.sealed.iv, 'base64'));
    decipher.setAAD(aadOf(mediaSerial, key.keyId));
    decipher.setAuthTag(Buffer.from(key.sealed.tag, 'base64'));
    return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(key.sealed.ciphertext, 'base64')), decipher.final()]));
  } catch (err) {
    // The PIN was right (the verifier matched), so this is a damaged or tampered file, not a user error.
    throw agentErrors.internal(`soft token ${mediaSerial}: key ${key.keyId} does not open (file damaged?)`, err);
  }
}

const stores = new Map<string, SoftTokenStore>();

/**
 * The store of a folder, one instance per folder in this process, so that the agent and the admin functions
 * (a demo seed or a test running beside an agent) queue their writes to a token behind each other.
 */
export function softTokenStoreFor(dir: string): SoftTokenStore {
  const key = resolve(dir);
  let store = stores.get(key);
  if (!store) stores.set(key, (store = new SoftTokenStore(key)));
  return store;
}

export class SoftTokenStore {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {}

  fileOf(mediaSerial: string): string {
    assertMediaSerial(mediaSerial);
    return join(this.dir, `${mediaSerial}.json`);
  }

  /** Every token in the folder; files that are not tokens (or half-written temp files) are skipped. */
  async list(): Promise<SoftTokenRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const tokens: SoftTokenRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const serial = name.slice(0, -'.json'.length);
      if (!SERIAL.test(serial)) continue;
      const record = await this.read(serial).catch(() => undefined);
      if (record) tokens.push(record);
    }
    return tokens;
  }

  async read(mediaSerial: string): Promise<SoftTokenRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(mediaSerial), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const record = JSON.parse(text) as SoftTokenRecord;
    if (record.format !== SOFT_TOKEN_FORMAT || record.mediaSerial !== mediaSerial) {
      throw agentErrors.internal(`soft token file ${mediaSerial}.json has format ${record.format} / serial ${record.mediaSerial}`);
    }
    return record;
  }

  /** Temp file + rename: a crash (or a pulled key, in spirit) leaves the old or the new token, never half. */
  async write(record: SoftTokenRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(record.mediaSerial);
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async remove(mediaSerial: string): Promise<void> {
    await rm(this.fileOf(mediaSerial), { force: true });
  }

  /**
   * Read-modify-write of one token, one at a time per token in this process. `change` mutates the record;
   * it is written back (if it changed) only when `change` returns without throwing.
   */
  update<T>(mediaSerial: string, change: (record: SoftTokenRecord) => T | Promise<T>): Promise<T> {
    const previous = this.queues.get(mediaSerial) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(async () => {
      const record = await this.read(mediaSerial);
      if (!record) throw agentErrors.deviceNotFound(mediaSerial);
      const before = JSON.stringify(record);
      const result = await change(record);
      if (JSON.stringify(record) !== before) await this.write(record);
      return result;
    });
    const settled = run.catch(() => undefined);
    this.queues.set(mediaSerial, settled);
    void settled.then(() => this.queues.get(mediaSerial) === settled && this.queues.delete(mediaSerial));
    return run;
  }

  /**
   * Checks the PIN as a token does: a locked token refuses even the right PIN; a wrong one costs a try and the
   * last one locks; a right one resets the counter. Returns the key-encryption key.
   */
  async unlock(mediaSerial: string, pin: string): Promise<Buffer> {
    const outcome = await this.update(mediaSerial, async (record): Promise<{ kek: Buffer } | { error: KeyAgentError }> => {
      if (record.triesLeft <= 0) return { error: agentErrors.pinLocked(`soft token ${mediaSerial} locked`) };
      const { verifier, kek } = await deriveFromPin(pin, Buffer.from(record.pin.salt, 'base64'), record.pin);
      const expected = Buffer.from(record.pin.verifier, 'base64');
      if (expected.length === verifier.length && timingSafeEqual(expected, verifier)) {
        record.triesLeft = record.maxTries;
        return { kek };
      }
      record.triesLeft -= 1;
      return {
        error: record.triesLeft <= 0 ? agentErrors.pinLocked(`soft token ${mediaSerial}: last try used`) : agentErrors.pinIncorrect(record.triesLeft),
      };
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.kek;
  }
}
