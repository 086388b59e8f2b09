import { randomBytes } from 'node:crypto';
import { parseCertificate } from '../../lib/pki/certificate';
import { buildCsr } from '../../lib/pki/csr';
import { generateSoftKeyPair, signWithSoftKey } from '../../lib/pki/soft-keys';
import { decodeSm2Pkcs8, encodeSm2Pkcs8, encodeSm2Spki } from '../../lib/pki/sm2';
import { openSm2EnvelopedKey } from '../../lib/pki/sm2-envelope';
import { type CertificateSubject, KEY_ALGORITHMS, type KeyAlgorithm, type ParsedCertificate } from '../../lib/pki/types';
import { type InstallRequest, type TokenBackend } from '../backend';
import { agentErrors } from '../errors';
import { type DeviceInfo, type DeviceMethod, type TokenCertificate, type UnplugAt } from '../protocol';
import { openKey, sealKey, type SoftCertificateRecord, type SoftKeyRecord, type SoftTokenRecord, type SoftTokenStore, softTokenStoreFor } from './soft-token-store';

/**
 * Soft tokens as a backend, with the fault switch: `unplug` simulates the user pulling the key out at a
 * chosen step of a chosen method, so renewal's "do not unplug" paths can be tested end to end. The switch
 * lives in memory (it is the agent's view of the USB port, not the token's state); `plug` puts the key back.
 */
export class SoftTokenBackend implements TokenBackend {
  readonly kind = 'soft' as const;
  readonly store: SoftTokenStore;
  private readonly unplugged = new Set<string>();
  private readonly armed = new Map<string, { when: 'before' | 'during' | 'after'; method: DeviceMethod }>();

  constructor(dir: string) {
    this.store = softTokenStoreFor(dir);
  }

  /** Pulls the key out now, or arms a pull for the next call of a method (see UnplugAt in protocol.ts). */
  unplug(mediaSerial: string, at: UnplugAt = 'now'): void {
    this.store.fileOf(mediaSerial); // validates the serial
    if (at === 'now') {
      this.armed.delete(mediaSerial);
      this.unplugged.add(mediaSerial);
      return;
    }
    const when = 'before' in at ? 'before' : 'during' in at ? 'during' : 'after';
    const method = (at as Record<string, DeviceMethod>)[when];
    this.armed.set(mediaSerial, { when, method });
  }

  /** Puts the key back in and disarms any pending pull. */
  plug(mediaSerial: string): void {
    this.unplugged.delete(mediaSerial);
    this.armed.delete(mediaSerial);
  }

  isUnplugged(mediaSerial: string): boolean {
    return this.unplugged.has(mediaSerial);
  }

  async listDevices(): Promise<DeviceInfo[]> {
    const tokens = await this.store.list();
    return tokens
      .filter((t) => !this.unplugged.has(t.mediaSerial))
      .map((t) => ({ mediaSerial: t.mediaSerial, label: t.label, backend: 'soft', algorithms: [...KEY_ALGORITHMS], pinLocked: t.triesLeft <= 0 }));
  }

  async locate(mediaSerial: string): Promise<'present' | 'removed' | 'absent'> {
    let record: SoftTokenRecord | undefined;
    try {
      record = await this.store.read(mediaSerial);
    } catch {
      return 'absent';
    }
    if (!record) return 'absent';
    return this.unplugged.has(mediaSerial) ? 'removed' : 'present';
  }

  listCertificates(mediaSerial: string): Promise<TokenCertificate[]> {
    return this.step(mediaSerial, 'cert.list', async () => {
      const record = await this.mustRead(mediaSerial);
      return record.certificates.map(toTokenCertificate);
    });
  }

  verifyPin(mediaSerial: string, pin: string): Promise<void> {
    return this.step(mediaSerial, 'pin.verify', async () => {
      await this.store.unlock(mediaSerial, pin);
    });
  }

  sign(mediaSerial: string, pin: string, certificateId: string, data: Uint8Array): Promise<{ signature: Uint8Array; algorithm: KeyAlgorithm }> {
    return this.step(mediaSerial, 'sign', async () => {
      // Look the certificate up before the PIN, as a token would: a wrong id must not cost a try.
      const record = await this.mustRead(mediaSerial);
      const certificate = record.certificates.find((c) => c.certificateId === certificateId);
      if (!certificate) throw agentErrors.certNotFound(certificateId);
      // An SM2 encryption key decrypts; it never signs (a signature must come from the signing key the CA certified).
      if (certificate.usage === 'encrypt') throw agentErrors.invalidParams('加密证书不能用于签名', `certificate ${certificateId} is an encryption certificate`);
      const key = certificate.keyId === null ? undefined : record.keys.find((k) => k.keyId === certificate.keyId);
      if (!key) throw agentErrors.keyNotFound(certificate.keyId ?? `(encryption certificate ${certificateId})`);
      const kek = await this.store.unlock(mediaSerial, pin);
      const signature = await signWithSoftKey(key.algorithm, openKey(kek, mediaSerial, key), data);
      return { signature, algorithm: key.algorithm };
    });
  }

  keygenCsr(mediaSerial: string, pin: string, algorithm: KeyAlgorithm, subject: CertificateSubject, chosenKeyId?: string): Promise<{ keyId: string; csrPem: string }> {
    return this.step(mediaSerial, 'keygen.csr', async () => {
      const record = await this.mustRead(mediaSerial);
      if (chosenKeyId && record.keys.some((k) => k.keyId === chosenKeyId)) throw agentErrors.invalidParams('密钥标识已被使用', `key id ${chosenKeyId} exists on ${mediaSerial}`);
      const kek = await this.store.unlock(mediaSerial, pin);
      const pair = await generateSoftKeyPair(algorithm);
      const keyId = chosenKeyId ?? randomBytes(8).toString('hex');
      const csrPem = await buildCsr({ subject, spkiDer: pair.spkiDer, sign: async (tbs: Uint8Array) => signWithSoftKey(algorithm, pair.privateKeyPkcs8Der, tbs) });
      // The key is kept only once its CSR exists: a failed CSR leaves no orphan key behind.
      await this.store.update(mediaSerial, (record) => {
        if (record.keys.some((k) => k.keyId === keyId)) throw agentErrors.invalidParams('密钥标识已被使用', `key id ${keyId} exists on ${mediaSerial}`);
        record.keys.push({
          keyId,
          algorithm,
          spkiDerBase64: Buffer.from(pair.spkiDer).toString('base64'),
          sealed: sealKey(kek, mediaSerial, keyId, pair.privateKeyPkcs8Der),
          createdAt: new Date().toISOString(),
        });
      });
      return { keyId, csrPem };
    });
  }

  installCertificate(mediaSerial: string, pin: string, install: InstallRequest): Promise<{ certificateId: string; pending: boolean }> {
    return this.step(mediaSerial, 'cert.install', async () => {
      const parsed = parseCertificateParam(install.certificatePem, 'certificatePem');
      const encryption = install.encryptionPair ? parseCertificateParam(install.encryptionPair.certificatePem, 'encryptionPair.certificatePem') : undefined;
      const record = await this.mustRead(mediaSerial);
      const already = record.certificates.find((c) => c.fingerprintSha256 === parsed.fingerprintSha256);
      const key = record.keys.find((k) => k.keyId === install.keyId);
      if (!key) throw agentErrors.keyNotFound(install.keyId);
      if (!Buffer.from(key.spkiDerBase64, 'base64').equals(Buffer.from(parsed.spkiDer))) {
        throw agentErrors.invalidParams('证书与 U-KEY 中的密钥不匹配', `certificate ${parsed.serialHex} does not carry the public key of key ${install.keyId}`);
      }
      if (!already && install.replacesCertificateId && !record.certificates.some((c) => c.certificateId === install.replacesCertificateId)) {
        throw agentErrors.certNotFound(install.replacesCertificateId);
      }
      const kek = await this.store.unlock(mediaSerial, pin);
      // The SM2 encryption key pair comes enveloped to the new signing key: open it with that key now (a wrong
      // envelope fails here, before anything is written), and keep it sealed under the PIN like any key.
      const encryptionKey = !already && encryption && install.encryptionPair
        ? importEnvelopedKey(kek, mediaSerial, key, openKey(kek, mediaSerial, key), install.encryptionPair.envelopedKeyBase64, encryption)
        : undefined;
      return this.store.update(mediaSerial, (fresh) => {
        // Installing the same certificate again (a retry after a pulled key) answers what the first one did.
        const existing = fresh.certificates.find((c) => c.fingerprintSha256 === parsed.fingerprintSha256);
        if (existing) return { certificateId: existing.certificateId, pending: existing.state === 'pending' };
        const now = new Date().toISOString();
        const certificateId = randomBytes(8).toString('hex');
        fresh.certificates.push({
          certificateId, keyId: install.keyId, pem: parsed.pem, fingerprintSha256: parsed.fingerprintSha256,
          usage: parsed.usage, state: 'pending', replaces: install.replacesCertificateId, installedAt: now,
        });
        if (encryption && install.encryptionPair && encryptionKey) {
          fresh.keys.push(encryptionKey);
          fresh.certificates.push({
            certificateId: randomBytes(8).toString('hex'), keyId: encryptionKey.keyId, pem: encryption.pem, fingerprintSha256: encryption.fingerprintSha256,
            usage: 'encrypt', state: 'pending', companionOf: certificateId, envelopedKeyBase64: install.encryptionPair.envelopedKeyBase64, installedAt: now,
          });
        }
        return { certificateId, pending: true };
      });
    });
  }

  confirmCertificate(mediaSerial: string, pin: string, certificateId: string): Promise<{ certificateId: string; removedCertificateId?: string }> {
    return this.step(mediaSerial, 'cert.confirm', async () => {
      const record = await this.mustRead(mediaSerial);
      if (!record.certificates.some((c) => c.certificateId === certificateId)) throw agentErrors.certNotFound(certificateId);
      await this.store.unlock(mediaSerial, pin);
      return this.store.update(mediaSerial, (fresh) => {
        const certificate = fresh.certificates.find((c) => c.certificateId === certificateId);
        if (!certificate) throw agentErrors.certNotFound(certificateId);
        for (const c of fresh.certificates) if (c === certificate || c.companionOf === certificateId) c.state = 'confirmed';
        const old = certificate.replaces;
        if (old) {
          // The replaced certificate goes with its encryption companion, and its key unless another certificate uses it.
          const leaving = fresh.certificates.filter((c) => c.certificateId === old || c.companionOf === old);
          fresh.certificates = fresh.certificates.filter((c) => !leaving.includes(c));
          const orphanKeys = new Set(leaving.map((c) => c.keyId).filter((k): k is string => k !== null && !fresh.certificates.some((c) => c.keyId === k)));
          fresh.keys = fresh.keys.filter((k) => !orphanKeys.has(k.keyId));
        }
        return old ? { certificateId, removedCertificateId: old } : { certificateId };
      });
    });
  }

  removeKey(mediaSerial: string, pin: string, keyId: string): Promise<boolean> {
    return this.step(mediaSerial, 'key.remove', async () => {
      const record = await this.mustRead(mediaSerial);
      if (record.certificates.some((c) => c.keyId === keyId)) throw agentErrors.keyInUse(keyId, `soft token ${mediaSerial}: a certificate uses key ${keyId}`);
      await this.store.unlock(mediaSerial, pin);
      return this.store.update(mediaSerial, (fresh) => {
        // Checked again inside the write: an install for this key may have landed since.
        if (fresh.certificates.some((c) => c.keyId === keyId)) throw agentErrors.keyInUse(keyId, `soft token ${mediaSerial}: a certificate uses key ${keyId}`);
        const before = fresh.keys.length;
        fresh.keys = fresh.keys.filter((k) => k.keyId !== keyId);
        return fresh.keys.length < before;
      });
    });
  }

  async close(): Promise<void> {}

  private async mustRead(mediaSerial: string): Promise<SoftTokenRecord> {
    const record = await this.store.read(mediaSerial);
    if (!record) throw agentErrors.deviceNotFound(mediaSerial);
    return record;
  }

  /**
   * Runs one device method under the fault switch. An armed pull is used up by the next call of its method:
   * 'before' fails it untouched; 'during' lets the work reach the token, then answers DEVICE_REMOVED (or the
   * work's own error); 'after' answers the work's own outcome. Either way the key is then out until `plug`.
   */
  private async step<T>(mediaSerial: string, method: DeviceMethod, work: () => Promise<T>): Promise<T> {
    if (this.unplugged.has(mediaSerial)) throw agentErrors.deviceRemoved(mediaSerial, `soft token unplugged (${method})`);
    const fault = this.armed.get(mediaSerial);
    if (!fault || fault.method !== method) return work();
    this.armed.delete(mediaSerial);
    if (fault.when === 'before') {
      this.unplugged.add(mediaSerial);
      throw agentErrors.deviceRemoved(mediaSerial, `fault switch: unplugged before ${method}`);
    }
    try {
      const result = await work();
      if (fault.when === 'during') throw agentErrors.deviceRemoved(mediaSerial, `fault switch: unplugged during ${method}, after its work`);
      return result;
    } finally {
      this.unplugged.add(mediaSerial);
    }
  }
}

/**
 * The SM2 encryption key pair of an SM2EnvelopedKey (GM/T 0009 §7.4), opened with the signing key it was wrapped
 * to, checked against the encryption certificate's public key, sealed as a key record of its own. What a real
 * token does in SKF_ImportECCKeyPair with the same envelope as an ENVELOPEDKEYBLOB (GM/T 0016).
 */
function importEnvelopedKey(
  kek: Buffer, mediaSerial: string, signingKey: SoftKeyRecord, signingPkcs8: Uint8Array, envelopedKeyBase64: string, encryptionCertificate: ParsedCertificate,
): SoftKeyRecord {
  if (signingKey.algorithm !== 'SM2' || encryptionCertificate.algorithm !== 'SM2') {
    throw agentErrors.invalidParams('只有 SM2 证书带有加密密钥', `encryption pair with a ${signingKey.algorithm} signing key / ${encryptionCertificate.algorithm} certificate`);
  }
  let pair: ReturnType<typeof openSm2EnvelopedKey>;
  try {
    pair = openSm2EnvelopedKey(new Uint8Array(Buffer.from(envelopedKeyBase64, 'base64')), decodeSm2Pkcs8(signingPkcs8).privateKey);
  } catch (err) {
    throw agentErrors.invalidParams('加密密钥无法导入（密钥信封与签名密钥不匹配）', `SM2EnvelopedKey for key ${signingKey.keyId}: ${(err as Error).message}`);
  }
  const spkiDer = encodeSm2Spki(pair.publicKey);
  if (!Buffer.from(spkiDer).equals(Buffer.from(encryptionCertificate.spkiDer))) {
    throw agentErrors.invalidParams('加密证书与密钥信封中的公钥不匹配', `encryption certificate ${encryptionCertificate.serialHex} does not carry the enveloped public key`);
  }
  const keyId = randomBytes(8).toString('hex');
  const pkcs8 = encodeSm2Pkcs8(pair);
  pair.privateKey.fill(0);
  return { keyId, algorithm: 'SM2', spkiDerBase64: Buffer.from(spkiDer).toString('base64'), sealed: sealKey(kek, mediaSerial, keyId, pkcs8), createdAt: new Date().toISOString() };
}

function parseCertificateParam(pem: string, field: string): ParsedCertificate {
  try {
    return parseCertificate(pem);
  } catch (err) {
    throw agentErrors.invalidParams('证书格式不正确', `${field}: ${(err as Error).message}`);
  }
}

function toTokenCertificate(c: SoftCertificateRecord): TokenCertificate {
  const parsed = parseCertificate(c.pem);
  return {
    certificateId: c.certificateId,
    pem: parsed.pem,
    serialHex: parsed.serialHex,
    subjectDn: parsed.subjectDn,
    issuerDn: parsed.issuerDn,
    notBefore: parsed.notBefore.toISOString(),
    notAfter: parsed.notAfter.toISOString(),
    algorithm: parsed.algorithm,
    usage: c.usage,
    pending: c.state === 'pending',
  };
}
