import { createHash, randomBytes } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { parseCertificate } from '../../lib/pki/certificate';
import { buildCsr } from '../../lib/pki/csr';
import { type CertificateSubject, type KeyAlgorithm, type ParsedCertificate } from '../../lib/pki/types';
import { type InstallRequest, type TokenBackend } from '../backend';
import { agentErrors } from '../errors';
import { type DeviceInfo, type TokenCertificate } from '../protocol';
import { certificateAttributes, ecdsaRawToDer, P256_PARAMS, p256Spki, rsaSpki, toAgentError, TOKEN_FLAGS } from './pkcs11-util';

/**
 * U-KEYs through their PKCS#11 module (tested against SoftHSM2). Devices are initialised tokens in slots;
 * certificates are CKO_CERTIFICATE objects tied to their private key by CKA_ID. The pending state of an
 * install lives on the token itself, in a public CKO_DATA object of our application, so it survives an agent
 * restart and a pulled key. SM2 is not in PKCS#11's standard mechanisms: SM2 tokens go through SKF (docs).
 */
const APPLICATION = 'shuan-ca-key-agent';
const { ObjectClass, KeyType, SessionFlag, UserType, MechanismEnum } = graphene;

interface InstallRecord { v: 1; fingerprintSha256: string; state: 'pending' | 'confirmed'; replaces?: { certificateId: string; fingerprintSha256: string } }
interface CertEntry { certificateId: string; idHex: string; object: graphene.SessionObject; parsed: ParsedCertificate }
type Login = (pin: string) => void;

export class Pkcs11Backend implements TokenBackend {
  readonly kind = 'pkcs11' as const;
  /** Serials seen in this run: one that disappears was pulled out (DEVICE_REMOVED, not DEVICE_NOT_FOUND). */
  private readonly seen = new Set<string>();
  private closed = false;

  private constructor(private readonly module: graphene.Module) {}

  /** Loads and initialises the module. OS locking: signing and key generation run on libuv's worker threads. */
  static open(modulePath: string): Pkcs11Backend {
    const module = graphene.Module.load(modulePath, 'pkcs11');
    module.initialize({ flags: 0x2 /* CKF_OS_LOCKING_OK */ });
    return new Pkcs11Backend(module);
  }

  async listDevices(): Promise<DeviceInfo[]> {
    return this.tokens().map(({ slot, token, serial }) => {
      const mechanisms = new Set<number>();
      const list = slot.getMechanisms();
      for (let i = 0; i < list.length; i++) mechanisms.add(list.items(i).type);
      const algorithms: KeyAlgorithm[] = [];
      if (mechanisms.has(MechanismEnum.RSA_PKCS_KEY_PAIR_GEN) && mechanisms.has(MechanismEnum.SHA256_RSA_PKCS)) algorithms.push('RSA-2048');
      if (mechanisms.has(MechanismEnum.EC_KEY_PAIR_GEN) && mechanisms.has(MechanismEnum.ECDSA)) algorithms.push('ECDSA-P256');
      return { mediaSerial: serial, label: token.label.trim(), backend: 'pkcs11', algorithms, pinLocked: (token.flags & TOKEN_FLAGS.USER_PIN_LOCKED) !== 0 };
    });
  }

  async locate(mediaSerial: string): Promise<'present' | 'removed' | 'absent'> {
    if (this.tokens().some((t) => t.serial === mediaSerial)) return 'present';
    return this.seen.has(mediaSerial) ? 'removed' : 'absent';
  }

  listCertificates(mediaSerial: string): Promise<TokenCertificate[]> {
    return this.withSession(mediaSerial, 'cert.list', false, async (session) => {
      const records = readInstallRecords(session);
      return readCertificates(session).map(({ certificateId, parsed }) => ({
        certificateId, pem: parsed.pem, serialHex: parsed.serialHex, subjectDn: parsed.subjectDn, issuerDn: parsed.issuerDn,
        notBefore: parsed.notBefore.toISOString(), notAfter: parsed.notAfter.toISOString(), algorithm: parsed.algorithm, usage: parsed.usage,
        pending: records.get(parsed.fingerprintSha256)?.record.state === 'pending',
      }));
    });
  }

  verifyPin(mediaSerial: string, pin: string): Promise<void> {
    return this.withSession(mediaSerial, 'pin.verify', false, async (_session, login) => login(pin));
  }

  sign(mediaSerial: string, pin: string, certificateId: string, data: Uint8Array): Promise<{ signature: Uint8Array; algorithm: KeyAlgorithm }> {
    return this.withSession(mediaSerial, 'sign', false, async (session, login) => {
      // The certificate is public: find it before the PIN, so a wrong id does not cost a try.
      const cert = readCertificates(session).find((c) => c.certificateId === certificateId);
      if (!cert) throw agentErrors.certNotFound(certificateId);
      const algorithm = cert.parsed.algorithm;
      if (algorithm === 'SM2') throw agentErrors.unsupportedAlgorithm(algorithm, 'PKCS#11 has no standard SM2 mechanism');
      login(pin);
      const key = findKey(session, ObjectClass.PRIVATE_KEY, cert.idHex);
      if (!key) throw agentErrors.keyNotFound(cert.idHex);
      return { signature: await signOnToken(session, key, algorithm, data), algorithm };
    });
  }

  keygenCsr(mediaSerial: string, pin: string, algorithm: KeyAlgorithm, subject: CertificateSubject, chosenKeyId?: string): Promise<{ keyId: string; csrPem: string }> {
    return this.withSession(mediaSerial, 'keygen.csr', true, async (session, login) => {
      if (algorithm === 'SM2') throw agentErrors.unsupportedAlgorithm(algorithm, 'PKCS#11 has no standard SM2 mechanism; SM2 tokens need the SKF adapter');
      login(pin);
      const id = chosenKeyId ? Buffer.from(chosenKeyId, 'hex') : randomBytes(16);
      if (chosenKeyId && (findKey(session, ObjectClass.PRIVATE_KEY, chosenKeyId) || findKey(session, ObjectClass.PUBLIC_KEY, chosenKeyId))) {
        throw agentErrors.invalidParams('密钥标识已被使用', `CKA_ID ${chosenKeyId} exists`);
      }
      const label = subject.commonName ?? APPLICATION;
      // Token objects; the private key is sensitive and never extractable: it is born and dies on the token.
      const common = { token: true, id, label };
      const privateTemplate = { ...common, class: ObjectClass.PRIVATE_KEY, private: true, sensitive: true, extractable: false, sign: true };
      const keys = algorithm === 'RSA-2048'
        ? await generateKeyPair(session, graphene.KeyGenMechanism.RSA,
            { ...common, class: ObjectClass.PUBLIC_KEY, keyType: KeyType.RSA, verify: true, modulusBits: 2048, publicExponent: Buffer.from([1, 0, 1]) },
            { ...privateTemplate, keyType: KeyType.RSA })
        : await generateKeyPair(session, graphene.KeyGenMechanism.EC,
            { ...common, class: ObjectClass.PUBLIC_KEY, keyType: KeyType.EC, verify: true, paramsEC: P256_PARAMS },
            { ...privateTemplate, keyType: KeyType.EC });
      try {
        const spkiDer = spkiOf(keys.publicKey, algorithm);
        const csrPem = await buildCsr({ subject, spkiDer, sign: (tbs: Uint8Array) => signOnToken(session, keys.privateKey, algorithm, tbs) });
        return { keyId: id.toString('hex'), csrPem };
      } catch (err) {
        // No CSR, no key: do not leave an orphan pair taking space on the token.
        for (const k of [keys.privateKey, keys.publicKey]) try { session.destroy(k); } catch { /* token gone */ }
        throw err;
      }
    });
  }

  installCertificate(mediaSerial: string, pin: string, install: InstallRequest): Promise<{ certificateId: string; pending: boolean }> {
    let parsed: ParsedCertificate;
    try {
      parsed = parseCertificate(install.certificatePem);
    } catch (err) {
      return Promise.reject(agentErrors.invalidParams('证书格式不正确', `certificatePem: ${(err as Error).message}`));
    }
    if (install.encryptionPair) return Promise.reject(agentErrors.unsupportedAlgorithm('SM2', 'SM2 encryption pairs need the SKF adapter'));
    return this.withSession(mediaSerial, 'cert.install', true, async (session, login) => {
      const certificates = readCertificates(session);
      // Same certificate for the same key: a retry. (The same certificate under another key id is checked below and refused.)
      const existing = certificates.find((c) => c.parsed.fingerprintSha256 === parsed.fingerprintSha256 && c.idHex === install.keyId.toLowerCase());
      const replaced = install.replacesCertificateId ? certificates.find((c) => c.certificateId === install.replacesCertificateId) : undefined;
      if (!existing && install.replacesCertificateId && !replaced) throw agentErrors.certNotFound(install.replacesCertificateId);
      login(pin);
      if (existing) {
        // The same certificate again (a retry after a pulled key): answer what the first install did.
        return { certificateId: existing.certificateId, pending: readInstallRecords(session).get(parsed.fingerprintSha256)?.record.state === 'pending' };
      }
      if (!/^([0-9a-f]{2})+$/i.test(install.keyId) || !findKey(session, ObjectClass.PRIVATE_KEY, install.keyId)) throw agentErrors.keyNotFound(install.keyId);
      const publicKey = findKey(session, ObjectClass.PUBLIC_KEY, install.keyId);
      if (publicKey && !Buffer.from(spkiOf(publicKey, parsed.algorithm)).equals(Buffer.from(parsed.spkiDer))) {
        throw agentErrors.invalidParams('证书与 U-KEY 中的密钥不匹配', `certificate ${parsed.serialHex} does not carry the public key of key ${install.keyId}`);
      }
      // The record first: a key pulled between the two writes leaves a record without a certificate (ignored),
      // never a certificate that looks final while the old one is still meant to be kept.
      writeInstallRecord(session, {
        v: 1, fingerprintSha256: parsed.fingerprintSha256, state: 'pending',
        replaces: replaced ? { certificateId: replaced.certificateId, fingerprintSha256: replaced.parsed.fingerprintSha256 } : undefined,
      });
      session.create({
        class: ObjectClass.CERTIFICATE, certType: graphene.CertificateType.X_509, token: true, private: false, modifiable: true,
        id: Buffer.from(install.keyId, 'hex'), label: parsed.subject.commonName ?? APPLICATION, value: Buffer.from(parsed.der), ...certificateAttributes(parsed.der),
      });
      const installed = readCertificates(session).find((c) => c.parsed.fingerprintSha256 === parsed.fingerprintSha256);
      if (!installed) throw agentErrors.internal(`certificate ${parsed.serialHex} not found after writing it`);
      return { certificateId: installed.certificateId, pending: true };
    });
  }

  confirmCertificate(mediaSerial: string, pin: string, certificateId: string): Promise<{ certificateId: string; removedCertificateId?: string }> {
    return this.withSession(mediaSerial, 'cert.confirm', true, async (session, login) => {
      const certificates = readCertificates(session);
      const cert = certificates.find((c) => c.certificateId === certificateId);
      if (!cert) throw agentErrors.certNotFound(certificateId);
      login(pin);
      const records = readInstallRecords(session);
      const entry = records.get(cert.parsed.fingerprintSha256);
      if (!entry) return { certificateId }; // not installed by us: nothing pending, nothing to remove
      const { record } = entry;
      const old = record.replaces && certificates.find((c) => c.parsed.fingerprintSha256 === record.replaces?.fingerprintSha256);
      if (old) {
        // Old certificate first, then its key unless another certificate still uses it, then its own record.
        session.destroy(old.object);
        if (old.idHex && !certificates.some((c) => c !== old && c.idHex === old.idHex)) {
          for (const cls of [ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY]) {
            for (let k = findKey(session, cls, old.idHex); k; k = findKey(session, cls, old.idHex)) session.destroy(k);
          }
        }
        for (const o of records.get(old.parsed.fingerprintSha256)?.objects ?? []) session.destroy(o);
      }
      if (record.state === 'pending') {
        // The confirmed record is written before the pending one goes: a pull in between leaves both (confirmed wins).
        writeInstallRecord(session, { ...record, state: 'confirmed' });
        for (const o of entry.objects) session.destroy(o);
      }
      return record.replaces ? { certificateId, removedCertificateId: record.replaces.certificateId } : { certificateId };
    });
  }

  removeKey(mediaSerial: string, pin: string, keyId: string): Promise<boolean> {
    return this.withSession(mediaSerial, 'key.remove', true, async (session, login) => {
      if (!/^([0-9a-f]{2})+$/i.test(keyId)) throw agentErrors.keyNotFound(keyId);
      const idHex = keyId.toLowerCase();
      // Certificates are public objects: the check costs no PIN try.
      if (readCertificates(session).some((c) => c.idHex === idHex)) throw agentErrors.keyInUse(keyId, `a certificate object has CKA_ID ${idHex}`);
      login(pin);
      let removed = false;
      for (const cls of [ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY]) {
        for (let k = findKey(session, cls, idHex); k; k = findKey(session, cls, idHex)) {
          session.destroy(k);
          removed = true;
        }
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.module.finalize();
    } finally {
      this.module.close();
    }
  }

  private tokens(): Array<{ slot: graphene.Slot; token: graphene.Token; serial: string }> {
    if (this.closed) return [];
    const found: Array<{ slot: graphene.Slot; token: graphene.Token; serial: string }> = [];
    const slots = this.module.getSlots(true);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      let token: graphene.Token;
      try {
        token = slot.getToken();
      } catch {
        continue; // pulled out between the slot list and this call
      }
      if (!(token.flags & TOKEN_FLAGS.TOKEN_INITIALIZED)) continue; // a blank token (SoftHSM's spare slot) is no U-KEY
      const serial = token.serialNumber.trim();
      this.seen.add(serial);
      found.push({ slot, token, serial });
    }
    return found;
  }

  /** One session per call: opened here, logged out and closed whatever happens; errors mapped to the protocol's. */
  private async withSession<T>(mediaSerial: string, operation: string, readWrite: boolean, work: (session: graphene.Session, login: Login) => Promise<T>): Promise<T> {
    const found = this.tokens().find((t) => t.serial === mediaSerial);
    if (!found) throw this.seen.has(mediaSerial) ? agentErrors.deviceRemoved(mediaSerial, `${operation}: token not in any slot`) : agentErrors.deviceNotFound(mediaSerial);
    const { slot } = found;
    let session: graphene.Session | undefined;
    let loggedIn = false;
    const login: Login = (pin) => {
      try {
        session!.login(pin, UserType.USER);
      } catch (err) {
        // Login state is per application: someone else's login would let a wrong PIN through. Log out, check ours.
        if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
        session!.logout();
        session!.login(pin, UserType.USER);
      }
      loggedIn = true;
    };
    try {
      session = slot.open(SessionFlag.SERIAL_SESSION | (readWrite ? SessionFlag.RW_SESSION : 0));
      return await work(session, login);
    } catch (err) {
      throw toAgentError(err, {
        mediaSerial, operation,
        tokenFlags: () => { try { return slot.getToken().flags; } catch { return undefined; } },
        stillPresent: () => this.tokens().some((t) => t.serial === mediaSerial),
      });
    } finally {
      if (session && loggedIn) try { session.logout(); } catch { /* removed, or already out */ }
      if (session) try { session.close(); } catch { /* removed */ }
    }
  }
}

function generateKeyPair(session: graphene.Session, mechanism: graphene.KeyGenMechanism, publicTemplate: graphene.ITemplate, privateTemplate: graphene.ITemplate): Promise<graphene.IKeyPair> {
  return new Promise((ok, fail) => session.generateKeyPair(mechanism, publicTemplate, privateTemplate, (err, keys) => (err || !keys ? fail(err ?? new Error('no key pair')) : ok(keys))));
}

/** Our signature convention on a token: RSA PKCS#1 v1.5 + SHA-256 on the token; ECDSA on a JS SHA-256 digest, DER out. */
function signOnToken(session: graphene.Session, key: graphene.Key, algorithm: KeyAlgorithm, data: Uint8Array): Promise<Uint8Array> {
  const run = (mechanism: string, input: Buffer) =>
    new Promise<Buffer>((ok, fail) => session.createSign(mechanism, key).once(input, (err, sig) => (err ? fail(err) : ok(sig))));
  if (algorithm === 'RSA-2048') return run('SHA256_RSA_PKCS', Buffer.from(data)).then((s) => new Uint8Array(s));
  if (algorithm === 'ECDSA-P256') return run('ECDSA', createHash('sha256').update(data).digest()).then(ecdsaRawToDer);
  return Promise.reject(agentErrors.unsupportedAlgorithm(algorithm));
}

function spkiOf(publicKey: graphene.SessionObject, algorithm: KeyAlgorithm): Uint8Array {
  if (algorithm === 'RSA-2048') {
    const a = publicKey.getAttribute({ modulus: null, publicExponent: null });
    return rsaSpki(a.modulus as Buffer, a.publicExponent as Buffer);
  }
  if (algorithm === 'ECDSA-P256') return p256Spki(publicKey.getAttribute({ pointEC: null }).pointEC as Buffer);
  throw agentErrors.unsupportedAlgorithm(algorithm);
}

function findKey(session: graphene.Session, cls: graphene.ObjectClass, idHex: string): graphene.Key | undefined {
  const found = session.find({ class: cls, id: Buffer.from(idHex, 'hex') });
  return found.length > 0 ? found.items(0).toType<graphene.Key>() : undefined;
}

/**
 * X.509 certificate objects with their ids: hex CKA_ID, which links the key; if several certificates share
 * a CKA_ID (re-certified key), `<id>.<serial>` tells them apart. Certificates we cannot parse are not shown.
 */
function readCertificates(session: graphene.Session): CertEntry[] {
  const objects = session.find({ class: ObjectClass.CERTIFICATE, certType: graphene.CertificateType.X_509 });
  const entries: Array<Omit<CertEntry, 'certificateId'>> = [];
  for (let i = 0; i < objects.length; i++) {
    const object = objects.items(i);
    const a = object.getAttribute({ id: null, value: null });
    try {
      entries.push({ object, idHex: (a.id as Buffer | null)?.toString('hex') ?? '', parsed: parseCertificate(a.value as Buffer) });
    } catch {
      continue;
    }
  }
  return entries.map((e) => {
    const shared = entries.filter((o) => o.idHex === e.idHex).length > 1;
    return { ...e, certificateId: e.idHex && !shared ? e.idHex : `${e.idHex || 'noid'}.${e.parsed.serialHex}` };
  });
}

/** Our install records by certificate fingerprint; a confirmed record wins over a pending one left by a pull. */
function readInstallRecords(session: graphene.Session): Map<string, { record: InstallRecord; objects: graphene.SessionObject[] }> {
  const objects = session.find({ class: ObjectClass.DATA, application: APPLICATION });
  const byFingerprint = new Map<string, { record: InstallRecord; objects: graphene.SessionObject[] }>();
  for (let i = 0; i < objects.length; i++) {
    const object = objects.items(i);
    let record: InstallRecord;
    try {
      record = JSON.parse((object.getAttribute({ value: null }).value as Buffer).toString('utf8')) as InstallRecord;
    } catch {
      continue;
    }
    const entry = byFingerprint.get(record.fingerprintSha256);
    if (!entry) byFingerprint.set(record.fingerprintSha256, { record, objects: [object] });
    else {
      entry.objects.push(object);
      if (record.state === 'confirmed') entry.record = record;
    }
  }
  return byFingerprint;
}

function writeInstallRecord(session: graphene.Session, record: InstallRecord): void {
  session.create({
    class: ObjectClass.DATA, token: true, private: false, modifiable: true, application: APPLICATION,
    label: `install ${record.fingerprintSha256.slice(0, 16)}`, value: Buffer.from(JSON.stringify(record), 'utf8'),
  });
}
