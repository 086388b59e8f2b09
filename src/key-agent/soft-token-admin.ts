import { randomBytes, randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import { parseCertificate } from '../lib/pki/certificate';
import { verifySignature } from '../lib/pki/signature';
import { signWithSoftKey } from '../lib/pki/soft-keys';
import { assertMediaSerial, newPinRecord, sealKey, SOFT_TOKEN_FORMAT, SOFT_TOKEN_MAX_TRIES, type SoftTokenRecord, type SoftTokenStore, softTokenStoreFor } from './backends/soft-token-store';

/**
 * Making soft tokens: what a CA's issuing desk does to a blank U-KEY (initialise it with a PIN, put a key and
 * certificate on it). Used by tests and `npm run demo:seed`; the agent itself only uses tokens that exist.
 * Every function works on files, so it can run while an agent is serving the same folder.
 */

/** Where the agent looks by default: `<DATA_DIR>/soft-tokens`. */
export function defaultSoftTokenDir(env: Record<string, string | undefined> = process.env): string {
  return resolve(env.DATA_DIR?.trim() || './data', 'soft-tokens');
}

/** The folder's token store (shared with an agent serving the same folder in this process). */
export function openSoftTokenStore(dir: string): SoftTokenStore {
  return softTokenStoreFor(dir);
}

/** A media serial like a real one: 16 digits (the binding step asks for the last 4), starting with 9 for "soft". */
export function newMediaSerial(): string {
  let digits = '9';
  while (digits.length < 16) digits += String(randomInt(10));
  return digits;
}

export interface CreateSoftTokenOptions {
  dir: string;
  pin: string;
  /** Default: a fresh 16-digit serial. */
  mediaSerial?: string;
  /** Default: "数安软U盾 <last 4 of serial>". */
  label?: string;
  /** Default 6, as our tokens. */
  maxTries?: number;
  /** Replace a token with the same serial (its keys are lost). Default: refuse. */
  overwrite?: boolean;
}

export interface SoftTokenSummary {
  mediaSerial: string;
  label: string;
  file: string;
}

export async function createSoftToken(options: CreateSoftTokenOptions): Promise<SoftTokenSummary> {
  const store = openSoftTokenStore(options.dir);
  const mediaSerial = options.mediaSerial ?? newMediaSerial();
  assertMediaSerial(mediaSerial);
  if (options.pin.length < 4 || options.pin.length > 32) throw new Error('soft token PIN must be 4-32 characters');
  if (!options.overwrite && (await store.read(mediaSerial))) throw new Error(`soft token ${mediaSerial} already exists in ${options.dir}`);
  const label = options.label ?? `数安软U盾 ${mediaSerial.slice(-4)}`;
  const maxTries = options.maxTries ?? SOFT_TOKEN_MAX_TRIES;
  const { record: pin } = await newPinRecord(options.pin);
  const record: SoftTokenRecord = {
    format: SOFT_TOKEN_FORMAT, mediaSerial, label, createdAt: new Date().toISOString(), pin, maxTries, triesLeft: maxTries, keys: [], certificates: [],
  };
  await store.write(record);
  return { mediaSerial, label, file: store.fileOf(mediaSerial) };
}

export interface ImportKeyAndCertificateOptions {
  dir: string;
  mediaSerial: string;
  pin: string;
  privateKeyPkcs8Der: Uint8Array;
  certificatePem: string;
}

/**
 * Puts an existing key pair and its certificate on a token, as an issued (confirmed) certificate. The key is
 * checked against the certificate by signing a probe, so a mixed-up pair is refused here rather than found
 * at the first login. The PIN is checked like any use of the token (a wrong one costs a try).
 */
export async function importKeyAndCertificate(options: ImportKeyAndCertificateOptions): Promise<{ keyId: string; certificateId: string }> {
  const store = openSoftTokenStore(options.dir);
  const certificate = parseCertificate(options.certificatePem);
  const probe = randomBytes(32);
  const signature = await signWithSoftKey(certificate.algorithm, options.privateKeyPkcs8Der, probe);
  if (!(await verifySignature(certificate.spkiDer, probe, signature))) {
    throw new Error(`the private key does not belong to certificate ${certificate.serialHex} (${certificate.subjectDn})`);
  }
  const kek = await store.unlock(options.mediaSerial, options.pin);
  return store.update(options.mediaSerial, (record) => {
    const existing = record.certificates.find((c) => c.fingerprintSha256 === certificate.fingerprintSha256);
    if (existing?.keyId) return { keyId: existing.keyId, certificateId: existing.certificateId };
    const keyId = randomBytes(8).toString('hex');
    const certificateId = randomBytes(8).toString('hex');
    const now = new Date().toISOString();
    record.keys.push({
      keyId, algorithm: certificate.algorithm, spkiDerBase64: Buffer.from(certificate.spkiDer).toString('base64'),
      sealed: sealKey(kek, options.mediaSerial, keyId, options.privateKeyPkcs8Der), createdAt: now,
    });
    record.certificates.push({
      certificateId, keyId, pem: certificate.pem, fingerprintSha256: certificate.fingerprintSha256, usage: certificate.usage, state: 'confirmed', installedAt: now,
    });
    return { keyId, certificateId };
  });
}

/** The tokens in a folder (serial, label, tries left, certificate count): for scripts and diagnostics. */
export async function listSoftTokens(dir: string): Promise<Array<{ mediaSerial: string; label: string; triesLeft: number; certificates: number }>> {
  const tokens = await openSoftTokenStore(dir).list();
  return tokens.map((t) => ({ mediaSerial: t.mediaSerial, label: t.label, triesLeft: t.triesLeft, certificates: t.certificates.length }));
}

/**
 * The issuing desk's unblock: gives a locked token its tries back. The PIN stays the same (it also seals the
 * keys, so a new PIN would need the old one), which suits a sandbox where the PIN is printed on the seed.
 */
export async function unblockSoftToken(dir: string, mediaSerial: string): Promise<void> {
  await openSoftTokenStore(dir).update(mediaSerial, (record) => {
    record.triesLeft = record.maxTries;
  });
}

export async function removeSoftToken(dir: string, mediaSerial: string): Promise<void> {
  await openSoftTokenStore(dir).remove(mediaSerial);
}
