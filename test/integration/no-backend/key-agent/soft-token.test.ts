import { readFileSync } from 'node:fs';
import { parseCertificate } from '../../../../src/lib/pki/certificate';
import { parseCsr } from '../../../../src/lib/pki/csr';
import { verifySignature } from '../../../../src/lib/pki/signature';
import { type KeyAlgorithm } from '../../../../src/lib/pki/types';
import { loadKeyAgentConfig } from '../../../../src/key-agent/config';
import { createKeyAgent, type KeyAgent } from '../../../../src/key-agent/create-agent';
import { KeyAgentError } from '../../../../src/key-agent/errors';
import { DEVICE_METHODS, type DeviceInfo, type DeviceMethod, type TokenCertificate } from '../../../../src/key-agent/protocol';
import { createSoftToken, importKeyAndCertificate, openSoftTokenStore, unblockSoftToken } from '../../../../src/key-agent/soft-token-admin';
import { openKey } from '../../../../src/key-agent/backends/soft-token-store';
import { decodeSm2Pkcs8, decodeSm2Spki, encodeSm2Spki, generateSm2KeyPair } from '../../../../src/lib/pki/sm2';
import { buildSm2EnvelopedKey, sm2Decrypt, sm2Encrypt } from '../../../../src/lib/pki/sm2-envelope';
import { quietLogger, softKeyWithCertificate, SUBJECT, tempDir, TestCa } from './fixtures';

const PIN = '123456';
let tmp: ReturnType<typeof tempDir>;
let agent: KeyAgent;
let ca: TestCa;

beforeAll(() => {
  ca = TestCa.create('ECDSA-P256');
});
beforeEach(() => {
  tmp = tempDir('soft-tokens');
  agent = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_PORT: '0', KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: tmp.dir, KEY_AGENT_DEV: 'true' }), { logger: quietLogger() });
});
afterEach(async () => {
  await agent.close();
  tmp.cleanup();
});

/** Untyped on purpose: these tests also send what the types would not let through. */
const call = (method: string, params: Record<string, unknown> = {}) => agent.dispatcher.call(method as never, params as never) as Promise<any>;
async function rejection(promise: Promise<unknown>): Promise<KeyAgentError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof KeyAgentError)) throw new Error(`expected a KeyAgentError, got ${String(err)}`);
  return err;
}

/** A token holding one issued certificate (and its key). */
async function tokenWithCertificate(algorithm: KeyAlgorithm = 'ECDSA-P256') {
  const { mediaSerial } = await createSoftToken({ dir: tmp.dir, pin: PIN });
  const pair = await softKeyWithCertificate(ca, algorithm);
  const { certificateId } = await importKeyAndCertificate({ dir: tmp.dir, mediaSerial, pin: PIN, ...pair });
  return { mediaSerial, certificateId, ...pair };
}

describe('soft tokens: PIN', () => {
  it('When the PIN is wrong, then each try costs one (triesLeft 5, 4, …), the 6th locks the token and then even the right PIN is refused', async () => {
    const { mediaSerial } = await createSoftToken({ dir: tmp.dir, pin: PIN });
    for (const left of [5, 4, 3, 2, 1]) {
      const err = await rejection(call('pin.verify', { mediaSerial, pin: '000000' }));
      expect([err.codeName, err.data]).toEqual(['PIN_INCORRECT', { triesLeft: left }]);
    }
    expect((await rejection(call('pin.verify', { mediaSerial, pin: '000000' }))).codeName).toBe('PIN_LOCKED');
    expect((await rejection(call('pin.verify', { mediaSerial, pin: PIN }))).codeName).toBe('PIN_LOCKED');
    const { devices } = await call('device.list');
    expect(devices.find((d: DeviceInfo) => d.mediaSerial === mediaSerial).pinLocked).toBe(true);

    await unblockSoftToken(tmp.dir, mediaSerial);
    await expect(call('pin.verify', { mediaSerial, pin: PIN })).resolves.toEqual({ ok: true });
  });

  it('When a right PIN follows wrong ones, then the counter is back to 6', async () => {
    const { mediaSerial } = await createSoftToken({ dir: tmp.dir, pin: PIN });
    await rejection(call('pin.verify', { mediaSerial, pin: 'nope' }));
    await rejection(call('pin.verify', { mediaSerial, pin: 'nope' }));
    await call('pin.verify', { mediaSerial, pin: PIN });
    expect((await openSoftTokenStore(tmp.dir).read(mediaSerial))!.triesLeft).toBe(6);
    expect((await rejection(call('pin.verify', { mediaSerial, pin: 'nope' }))).data).toEqual({ triesLeft: 5 });
  });

  it('When the token file is read without the PIN, then it holds no private key in any plain encoding', async () => {
    const { mediaSerial, privateKeyPkcs8Der } = await tokenWithCertificate('RSA-2048');
    const file = readFileSync(openSoftTokenStore(tmp.dir).fileOf(mediaSerial), 'utf8');
    const key = Buffer.from(privateKeyPkcs8Der);
    for (const encoded of [key.toString('base64'), key.toString('hex'), key.subarray(-48).toString('base64'), key.subarray(-32).toString('hex')]) {
      expect(file).not.toContain(encoded);
    }
    expect(file).not.toContain(PIN);
    expect(file).not.toMatch(/PRIVATE KEY/);
  });
});

describe('soft tokens: signing', () => {
  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256', 'SM2'])('When data is signed with a %s certificate, then the signature verifies with its public key', async (algorithm) => {
    const { mediaSerial, certificateId, certificatePem } = await tokenWithCertificate(algorithm);
    const data = Buffer.from('登录挑战 challenge 42');
    const answer = await call('sign', { mediaSerial, certificateId, pin: PIN, dataBase64: data.toString('base64') });
    expect(answer.algorithm).toBe(algorithm);
    expect(verifySignature(parseCertificate(certificatePem).spkiDer, data, Buffer.from(answer.signatureBase64, 'base64'))).toBe(true);
  });

  it('When the certificate id is unknown, then CERT_NOT_FOUND and no PIN try is spent', async () => {
    const { mediaSerial } = await tokenWithCertificate();
    expect((await rejection(call('sign', { mediaSerial, certificateId: 'nope', pin: 'wrong', dataBase64: 'AA==' }))).codeName).toBe('CERT_NOT_FOUND');
    expect((await openSoftTokenStore(tmp.dir).read(mediaSerial))!.triesLeft).toBe(6);
  });

  it('When params are malformed or the device is unknown, then INVALID_PARAMS / DEVICE_NOT_FOUND', async () => {
    expect((await rejection(call('sign', { mediaSerial: 'x', certificateId: 'c', pin: PIN, dataBase64: '!!' }))).codeName).toBe('INVALID_PARAMS');
    expect((await rejection(call('cert.list', { mediaSerial: '../../etc' }))).codeName).toBe('DEVICE_NOT_FOUND');
    expect((await rejection(call('cert.list', { mediaSerial: '9000000000000000' }))).codeName).toBe('DEVICE_NOT_FOUND');
  });
});

describe('soft tokens: renewal (keygen.csr, cert.install, cert.confirm)', () => {
  it('When a new key is made and its certificate installed, then the old one stays until confirm, install is idempotent and confirm removes the old certificate and key', async () => {
    const old = await tokenWithCertificate('RSA-2048');
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'SM2', subject: SUBJECT });
    const csr = parseCsr(csrPem);
    expect([csr.signatureValid, csr.algorithm, csr.subject.commonName]).toEqual([true, 'SM2', SUBJECT.commonName]);
    const certificatePem = await ca.issueFromCsr(csrPem);

    const install = { mediaSerial: old.mediaSerial, pin: PIN, keyId, certificatePem, replacesCertificateId: old.certificateId };
    const installed = await call('cert.install', install);
    expect(installed.pending).toBe(true);
    expect(await call('cert.install', install)).toEqual(installed);
    let { certificates } = await call('cert.list', { mediaSerial: old.mediaSerial });
    expect(certificates.map((c: TokenCertificate) => [c.certificateId, c.pending])).toEqual([[old.certificateId, false], [installed.certificateId, true]]);

    const confirmed = await call('cert.confirm', { mediaSerial: old.mediaSerial, pin: PIN, certificateId: installed.certificateId });
    expect(confirmed).toEqual({ certificateId: installed.certificateId, removedCertificateId: old.certificateId });
    expect(await call('cert.confirm', { mediaSerial: old.mediaSerial, pin: PIN, certificateId: installed.certificateId })).toEqual(confirmed);
    ({ certificates } = await call('cert.list', { mediaSerial: old.mediaSerial }));
    expect(certificates.map((c: TokenCertificate) => [c.certificateId, c.pending, c.algorithm])).toEqual([[installed.certificateId, false, 'SM2']]);
    const record = await openSoftTokenStore(tmp.dir).read(old.mediaSerial);
    expect(record!.keys.map((k) => k.keyId)).toEqual([keyId]);

    const signed = await call('sign', { mediaSerial: old.mediaSerial, certificateId: installed.certificateId, pin: PIN, dataBase64: 'aGVsbG8=' });
    expect(verifySignature(parseCertificate(certificatePem).spkiDer, Buffer.from('hello'), Buffer.from(signed.signatureBase64, 'base64'))).toBe(true);
  });

  it('When the certificate carries another public key, or the key id is unknown, then INVALID_PARAMS / KEY_NOT_FOUND', async () => {
    const { mediaSerial, certificatePem } = await tokenWithCertificate();
    const { keyId } = await call('keygen.csr', { mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    expect((await rejection(call('cert.install', { mediaSerial, pin: PIN, keyId, certificatePem }))).codeName).toBe('INVALID_PARAMS');
    expect((await rejection(call('cert.install', { mediaSerial, pin: PIN, keyId: 'feedface', certificatePem }))).codeName).toBe('KEY_NOT_FOUND');
  });
});

describe('soft tokens: renewal of every key family, orphans and SM2 encryption keys (protocol 2)', () => {
  it('When agent.hello is asked, then it names protocol 2 and the key.remove and SM2 envelope features the renewal page checks', async () => {
    const hello = await call('agent.hello');
    expect([hello.protocol, hello.features]).toEqual([2, ['key.remove', 'sm2.enveloped-key']]);
  });

  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256', 'SM2'])('When a %s certificate is renewed with a key of the same family, then the new certificate replaces the old one on confirm', async (algorithm) => {
    const old = await tokenWithCertificate(algorithm);
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm, subject: SUBJECT });
    expect(parseCsr(csrPem).algorithm).toBe(algorithm);
    const { certificateId } = await call('cert.install', { mediaSerial: old.mediaSerial, pin: PIN, keyId, certificatePem: await ca.issueFromCsr(csrPem), replacesCertificateId: old.certificateId });
    await call('cert.confirm', { mediaSerial: old.mediaSerial, pin: PIN, certificateId });
    const { certificates } = await call('cert.list', { mediaSerial: old.mediaSerial });
    expect(certificates.map((c: TokenCertificate) => [c.certificateId, c.algorithm, c.pending])).toEqual([[certificateId, algorithm, false]]);
  });

  it('When key.remove names the orphan of an abandoned keygen.csr, then only that key goes; again it answers removed: false; a key with a certificate is refused with KEY_IN_USE', async () => {
    const old = await tokenWithCertificate('ECDSA-P256');
    const { keyId } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    const store = openSoftTokenStore(tmp.dir);
    const keysBefore = (await store.read(old.mediaSerial))!.keys.map((k) => k.keyId);
    expect(keysBefore).toContain(keyId);
    const inUse = keysBefore.find((k) => k !== keyId)!;

    expect((await rejection(call('key.remove', { mediaSerial: old.mediaSerial, pin: '000000', keyId }))).codeName).toBe('PIN_INCORRECT');
    expect(await call('key.remove', { mediaSerial: old.mediaSerial, pin: PIN, keyId })).toEqual({ keyId, removed: true });
    expect(await call('key.remove', { mediaSerial: old.mediaSerial, pin: PIN, keyId })).toEqual({ keyId, removed: false });
    const err = await rejection(call('key.remove', { mediaSerial: old.mediaSerial, pin: PIN, keyId: inUse }));
    expect([err.codeName, err.message]).toEqual(['KEY_IN_USE', '该密钥已有证书在使用，不能删除']);
    expect((await store.read(old.mediaSerial))!.keys.map((k) => k.keyId)).toEqual([inUse]);
    // The old certificate still signs.
    await expect(call('sign', { mediaSerial: old.mediaSerial, certificateId: old.certificateId, pin: PIN, dataBase64: 'AA==' })).resolves.toBeDefined();
  });

  it('When keygen.csr is given the key id and the key is pulled while the key is made, then the caller still removes that key; a taken id is refused', async () => {
    const old = await tokenWithCertificate('ECDSA-P256');
    const keyId = 'a1'.repeat(16);
    agent.softTokens!.unplug(old.mediaSerial, { during: 'keygen.csr' });
    expect((await rejection(call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT, keyId }))).codeName).toBe('DEVICE_REMOVED');
    agent.softTokens!.plug(old.mediaSerial);
    expect((await openSoftTokenStore(tmp.dir).read(old.mediaSerial))!.keys.map((k) => k.keyId)).toContain(keyId);
    expect((await rejection(call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT, keyId }))).codeName).toBe('INVALID_PARAMS');
    expect((await rejection(call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT, keyId: 'xyz' }))).codeName).toBe('INVALID_PARAMS');
    expect(await call('key.remove', { mediaSerial: old.mediaSerial, pin: PIN, keyId })).toEqual({ keyId, removed: true });
    expect((await openSoftTokenStore(tmp.dir).read(old.mediaSerial))!.keys).toHaveLength(1);
  });

  /** An SM2 renewal as the CA answers it: a signing certificate for the CSR, an encryption pair from the KMC enveloped to the CSR's key. */
  async function sm2DualRenewal() {
    const old = await tokenWithCertificate('SM2');
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'SM2', subject: SUBJECT });
    const encryptionPair = generateSm2KeyPair();
    const envelopedKeyBase64 = Buffer.from(buildSm2EnvelopedKey(encryptionPair, decodeSm2Spki(parseCsr(csrPem).spkiDer))).toString('base64');
    const encryptionCertificatePem = await ca.issueFor(encodeSm2Spki(encryptionPair.publicKey));
    return { old, keyId, certificatePem: await ca.issueFromCsr(csrPem), encryptionCertificatePem, envelopedKeyBase64 };
  }

  it('When an SM2 pair is installed with its enveloped encryption key, then the token imports the key and decrypts what was encrypted to the new encryption certificate', async () => {
    const r = await sm2DualRenewal();
    const { mediaSerial } = r.old;
    const installed = await call('cert.install', {
      mediaSerial, pin: PIN, keyId: r.keyId, certificatePem: r.certificatePem, replacesCertificateId: r.old.certificateId,
      encryptionPair: { certificatePem: r.encryptionCertificatePem, envelopedKeyBase64: r.envelopedKeyBase64 },
    });
    await call('cert.confirm', { mediaSerial, pin: PIN, certificateId: installed.certificateId });
    const { certificates } = await call('cert.list', { mediaSerial });
    expect(certificates.map((c: TokenCertificate) => [c.usage, c.pending])).toEqual([['sign', false], ['encrypt', false]]);

    // Someone encrypts to the encryption certificate; the token's imported key (opened with the PIN) decrypts it.
    const secret = Buffer.from('续期后的加密证书可以解密');
    const cipher = sm2Encrypt(decodeSm2Spki(parseCertificate(r.encryptionCertificatePem).spkiDer), secret);
    const store = openSoftTokenStore(tmp.dir);
    const record = (await store.read(mediaSerial))!;
    const encryptionRecord = record.certificates.find((c) => c.usage === 'encrypt')!;
    const key = record.keys.find((k) => k.keyId === encryptionRecord.keyId)!;
    expect(key).toBeDefined();
    const kek = await store.unlock(mediaSerial, PIN);
    expect(Buffer.from(sm2Decrypt(decodeSm2Pkcs8(openKey(kek, mediaSerial, key)).privateKey, cipher))).toEqual(secret);
    // It is a decryption key only.
    expect((await rejection(call('sign', { mediaSerial, certificateId: certificates[1].certificateId, pin: PIN, dataBase64: 'AA==' }))).codeName).toBe('INVALID_PARAMS');
    // The signing key and the encryption key are the only keys left: the old ones went with the old certificate.
    expect(record.keys.map((k) => k.keyId).sort()).toEqual([r.keyId, encryptionRecord.keyId].sort());
  });

  it('When the envelope is wrapped to another key, then cert.install refuses it and writes nothing', async () => {
    const r = await sm2DualRenewal();
    const { mediaSerial } = r.old;
    const foreign = Buffer.from(buildSm2EnvelopedKey(generateSm2KeyPair(), generateSm2KeyPair().publicKey)).toString('base64');
    const before = readFileSync(openSoftTokenStore(tmp.dir).fileOf(mediaSerial), 'utf8');
    const err = await rejection(call('cert.install', {
      mediaSerial, pin: PIN, keyId: r.keyId, certificatePem: r.certificatePem,
      encryptionPair: { certificatePem: r.encryptionCertificatePem, envelopedKeyBase64: foreign },
    }));
    expect(err.codeName).toBe('INVALID_PARAMS');
    expect(readFileSync(openSoftTokenStore(tmp.dir).fileOf(mediaSerial), 'utf8')).toBe(before);
  });
});

describe('soft tokens: the fault switch (key pulled out)', () => {
  it('When a token is unplugged now, then it is absent from device.list and every call answers DEVICE_REMOVED until it is plugged back', async () => {
    const { mediaSerial, certificateId } = await tokenWithCertificate();
    await call('dev.unplug', { mediaSerial });
    expect((await call('device.list')).devices).toEqual([]);
    for (const [method, params] of [
      ['cert.list', {}], ['pin.verify', { pin: PIN }], ['sign', { certificateId, pin: PIN, dataBase64: 'AA==' }],
      ['keygen.csr', { pin: PIN, algorithm: 'RSA-2048', subject: SUBJECT }], ['cert.confirm', { pin: PIN, certificateId }],
    ] as const) {
      const err = await rejection(call(method, { mediaSerial, ...params }));
      expect([method, err.codeName, err.data]).toEqual([method, 'DEVICE_REMOVED', { mediaSerial }]);
    }
    await call('dev.plug', { mediaSerial });
    expect((await call('device.list')).devices.map((d: DeviceInfo) => d.mediaSerial)).toEqual([mediaSerial]);
  });

  it.each(DEVICE_METHODS)('When the key is pulled before %s, then it answers DEVICE_REMOVED and the token file is untouched', async (method) => {
    const old = await tokenWithCertificate();
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    const certificatePem = await ca.issueFromCsr(csrPem);
    const params: Record<DeviceMethod, Record<string, unknown>> = {
      'cert.list': {}, 'pin.verify': { pin: PIN }, sign: { certificateId: old.certificateId, pin: PIN, dataBase64: 'AA==' },
      'keygen.csr': { pin: PIN, algorithm: 'RSA-2048', subject: SUBJECT }, 'cert.install': { pin: PIN, keyId, certificatePem },
      'cert.confirm': { pin: PIN, certificateId: old.certificateId }, 'key.remove': { pin: PIN, keyId },
    };
    const file = openSoftTokenStore(tmp.dir).fileOf(old.mediaSerial);
    const before = readFileSync(file, 'utf8');
    await call('dev.unplug', { mediaSerial: old.mediaSerial, at: { before: method } });
    expect((await rejection(call(method, { mediaSerial: old.mediaSerial, ...params[method] }))).codeName).toBe('DEVICE_REMOVED');
    expect(readFileSync(file, 'utf8')).toBe(before);
    await call('dev.plug', { mediaSerial: old.mediaSerial });
    await expect(call(method, { mediaSerial: old.mediaSerial, ...params[method] })).resolves.toBeDefined();
  });

  it('When the key is pulled before keygen.csr, then nothing is written; after keygen.csr, the CSR comes back and the next call finds the key gone', async () => {
    const { mediaSerial } = await createSoftToken({ dir: tmp.dir, pin: PIN });
    agent.softTokens!.unplug(mediaSerial, { before: 'keygen.csr' });
    expect((await rejection(call('keygen.csr', { mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT }))).codeName).toBe('DEVICE_REMOVED');
    agent.softTokens!.plug(mediaSerial);
    expect((await openSoftTokenStore(tmp.dir).read(mediaSerial))!.keys).toEqual([]);

    agent.softTokens!.unplug(mediaSerial, { after: 'keygen.csr' });
    await call('cert.list', { mediaSerial }); // other methods do not trip it
    const { keyId } = await call('keygen.csr', { mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    expect((await rejection(call('cert.list', { mediaSerial }))).codeName).toBe('DEVICE_REMOVED');
    agent.softTokens!.plug(mediaSerial);
    expect((await openSoftTokenStore(tmp.dir).read(mediaSerial))!.keys.map((k) => k.keyId)).toEqual([keyId]);
  });

  it('When the key is pulled during cert.install, then the caller gets DEVICE_REMOVED, the certificate is on the token pending, and installing again answers the same id', async () => {
    const old = await tokenWithCertificate();
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    const install = { mediaSerial: old.mediaSerial, pin: PIN, keyId, certificatePem: await ca.issueFromCsr(csrPem), replacesCertificateId: old.certificateId };

    await call('dev.unplug', { mediaSerial: old.mediaSerial, at: { during: 'cert.install' } });
    expect((await rejection(call('cert.install', install))).codeName).toBe('DEVICE_REMOVED');
    expect((await rejection(call('cert.list', { mediaSerial: old.mediaSerial }))).codeName).toBe('DEVICE_REMOVED');
    await call('dev.plug', { mediaSerial: old.mediaSerial });

    const { certificates } = await call('cert.list', { mediaSerial: old.mediaSerial });
    expect(certificates.map((c: TokenCertificate) => c.pending)).toEqual([false, true]);
    const again = await call('cert.install', install);
    expect(again).toEqual({ certificateId: certificates[1].certificateId, pending: true });
  });

  it('When the key is pulled during or after cert.confirm, then the old certificate is gone and a retried confirm answers the same', async () => {
    for (const when of ['during', 'after'] as const) {
      const old = await tokenWithCertificate();
      const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: old.mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
      const { certificateId } = await call('cert.install', { mediaSerial: old.mediaSerial, pin: PIN, keyId, certificatePem: await ca.issueFromCsr(csrPem), replacesCertificateId: old.certificateId });
      agent.softTokens!.unplug(old.mediaSerial, { [when]: 'cert.confirm' } as never);
      const first = call('cert.confirm', { mediaSerial: old.mediaSerial, pin: PIN, certificateId });
      if (when === 'during') expect((await rejection(first)).codeName).toBe('DEVICE_REMOVED');
      else await first;
      agent.softTokens!.plug(old.mediaSerial);
      expect(await call('cert.confirm', { mediaSerial: old.mediaSerial, pin: PIN, certificateId })).toEqual({ certificateId, removedCertificateId: old.certificateId });
      expect((await call('cert.list', { mediaSerial: old.mediaSerial })).certificates.map((c: TokenCertificate) => c.certificateId)).toEqual([certificateId]);
    }
  });

  it('When dev mode is off, then dev.unplug is not a method', async () => {
    const plain = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: tmp.dir }), { logger: quietLogger() });
    const err = await rejection(plain.dispatcher.call('dev.unplug', { mediaSerial: '9000000000000000' }));
    expect(err.codeName).toBe('METHOD_NOT_FOUND');
    await plain.close();
  });
});
