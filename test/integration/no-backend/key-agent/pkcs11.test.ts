import { execFileSync } from 'node:child_process';
import { parseCertificate } from '../../../../src/lib/pki/certificate';
import { parseCsr } from '../../../../src/lib/pki/csr';
import { verifySignature } from '../../../../src/lib/pki/signature';
import { generateSoftKeyPair } from '../../../../src/lib/pki/soft-keys';
import { type KeyAlgorithm } from '../../../../src/lib/pki/types';
import { KeyAgentError } from '../../../../src/key-agent/client';
import { type DeviceInfo, type TokenCertificate } from '../../../../src/key-agent/protocol';
import { createSoftHsm, describeWithSoftHsm, type SoftHsm } from '../../../helpers/softhsm';
import { type AgentProcess, spawnKeyAgent, SUBJECT, TestCa } from './fixtures';

/**
 * The PKCS#11 backend against real SoftHSM2 tokens (keys generated and used on the token), through the agent
 * as the user runs it (`npm run key-agent`, a child process) and the typed client over HTTP.
 */
describeWithSoftHsm('PKCS#11 backend on SoftHSM2', () => {
  const PIN = '246810';
  let hsm: SoftHsm;
  let agent: AgentProcess;
  let serial: string;
  let ca: TestCa;

  beforeAll(async () => {
    hsm = createSoftHsm([{ label: 'agent-a', pin: PIN }, { label: 'agent-b', pin: '135790' }]);
    serial = hsm.tokens[0].serial;
    ca = TestCa.create('RSA-2048');
    agent = await spawnKeyAgent({ ...hsm.env, KEY_AGENT_BACKENDS: 'pkcs11', KEY_AGENT_PKCS11_MODULE: hsm.modulePath });
  });
  afterAll(async () => {
    await agent?.stop();
    hsm?.cleanup();
  });

  const call = (method: string, params: Record<string, unknown> = {}) => agent.client.call(method as never, params as never) as Promise<any>;
  async function rejection(promise: Promise<unknown>): Promise<KeyAgentError> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    if (!(err instanceof KeyAgentError)) throw new Error(`expected a KeyAgentError, got ${String(err)}`);
    return err;
  }
  /** keygen.csr on the token, the test CA issues, cert.install writes it: the renewal path. */
  async function renew(algorithm: KeyAlgorithm, replacesCertificateId?: string) {
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm, subject: SUBJECT });
    const certificatePem = await ca.issueFromCsr(csrPem);
    const installed = await call('cert.install', { mediaSerial: serial, pin: PIN, keyId, certificatePem, replacesCertificateId });
    return { keyId, csrPem, certificatePem, ...installed } as { keyId: string; csrPem: string; certificatePem: string; certificateId: string; pending: boolean };
  }
  const listed = async () => ((await call('cert.list', { mediaSerial: serial })).certificates as TokenCertificate[]).map((c) => [c.certificateId, c.pending]);

  /** Reads the attributes of the private key with this CKA_ID from another process, as any PKCS#11 application could. */
  function privateKeyAttributes(keyId: string): unknown {
    const script = `
      const g = require('graphene-pk11');
      const m = g.Module.load(${JSON.stringify(hsm.modulePath)}); m.initialize();
      const slot = [...Array(m.getSlots(true).length).keys()].map((i) => m.getSlots(true).items(i)).find((s) => s.getToken().serialNumber.trim() === ${JSON.stringify(serial)});
      const session = slot.open(g.SessionFlag.SERIAL_SESSION); session.login(${JSON.stringify(PIN)});
      const key = session.find({ class: g.ObjectClass.PRIVATE_KEY, id: Buffer.from(${JSON.stringify(keyId)}, 'hex') }).items(0);
      console.log(JSON.stringify(key.getAttribute({ token: null, private: null, sensitive: null, extractable: null, neverExtractable: null, local: null })));
      session.logout(); session.close(); m.finalize();`;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...hsm.env }, encoding: 'utf8' }));
  }

  it('When devices are listed, then each initialised token shows with its serial as media serial (the blank slot does not)', async () => {
    const { devices } = await call('device.list');
    // Slot order follows SoftHSM's slot ids (derived from the serial), so compare by label.
    const byLabel = (a: DeviceInfo, b: DeviceInfo) => a.label.localeCompare(b.label);
    expect([...devices].sort(byLabel).map((d: DeviceInfo) => [d.mediaSerial, d.label, d.backend, d.pinLocked, d.algorithms])).toEqual([
      [hsm.tokens[0].serial, 'agent-a', 'pkcs11', false, ['RSA-2048', 'ECDSA-P256']],
      [hsm.tokens[1].serial, 'agent-b', 'pkcs11', false, ['RSA-2048', 'ECDSA-P256']],
    ]);
  });

  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256'])('When keygen.csr makes a %s key on the token, then the CSR parses with a valid signature and the subject asked for', async (algorithm) => {
    const { keyId, csrPem } = await call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm, subject: SUBJECT });
    expect(keyId).toMatch(/^[0-9a-f]{32}$/);
    const csr = parseCsr(csrPem);
    expect([csr.signatureValid, csr.algorithm, csr.subject.commonName, csr.subject.creditCode]).toEqual([true, algorithm, SUBJECT.commonName, SUBJECT.creditCode]);
    expect(privateKeyAttributes(keyId)).toEqual({ token: true, private: true, sensitive: true, extractable: false, neverExtractable: true, local: true });
  });

  it('When SM2 is asked of a PKCS#11 token, then UNSUPPORTED_ALGORITHM (SM2 tokens need the SKF adapter)', async () => {
    expect((await rejection(call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm: 'SM2', subject: SUBJECT }))).codeName).toBe('UNSUPPORTED_ALGORITHM');
  });

  it('When the PIN is wrong, then PIN_INCORRECT (tries left unknown: PKCS#11 only flags the final try), and the right one still works', async () => {
    const { certificateId } = await renew('ECDSA-P256');
    const err = await rejection(call('sign', { mediaSerial: serial, certificateId, pin: '000000', dataBase64: 'AA==' }));
    expect([err.codeName, err.data]).toEqual(['PIN_INCORRECT', { triesLeft: null }]);
    expect((await rejection(call('pin.verify', { mediaSerial: serial, pin: '999999' }))).codeName).toBe('PIN_INCORRECT');
    await expect(call('pin.verify', { mediaSerial: serial, pin: PIN })).resolves.toEqual({ ok: true });
  });

  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256'])('When a %s certificate is installed, then signing with its key on the token verifies with the certificate', async (algorithm) => {
    const { certificateId, certificatePem, keyId, pending } = await renew(algorithm);
    expect([certificateId, pending]).toEqual([keyId, true]);
    const data = Buffer.from(`挑战 ${algorithm}`);
    const signed = await call('sign', { mediaSerial: serial, certificateId, pin: PIN, dataBase64: data.toString('base64') });
    expect(signed.algorithm).toBe(algorithm);
    expect(verifySignature(parseCertificate(certificatePem).spkiDer, data, Buffer.from(signed.signatureBase64, 'base64'))).toBe(true);
  });

  it('When a renewal installs over an old certificate, then both stay until confirm; install and confirm are idempotent; confirm removes the old certificate and its key', async () => {
    const first = await renew('RSA-2048');
    await call('cert.confirm', { mediaSerial: serial, pin: PIN, certificateId: first.certificateId });
    const second = await renew('ECDSA-P256', first.certificateId);
    expect(await listed()).toEqual(expect.arrayContaining([[first.certificateId, false], [second.certificateId, true]]));
    const again = await call('cert.install', { mediaSerial: serial, pin: PIN, keyId: second.keyId, certificatePem: second.certificatePem, replacesCertificateId: first.certificateId });
    expect(again).toEqual({ certificateId: second.certificateId, pending: true });

    const confirmed = await call('cert.confirm', { mediaSerial: serial, pin: PIN, certificateId: second.certificateId });
    expect(confirmed).toEqual({ certificateId: second.certificateId, removedCertificateId: first.certificateId });
    expect(await call('cert.confirm', { mediaSerial: serial, pin: PIN, certificateId: second.certificateId })).toEqual(confirmed);
    const after = await listed();
    expect(after).toContainEqual([second.certificateId, false]);
    expect(after.map(([id]) => id)).not.toContain(first.certificateId);
    // The old key went with its certificate: a certificate for it can no longer be installed.
    const err = await rejection(call('cert.install', { mediaSerial: serial, pin: PIN, keyId: first.keyId, certificatePem: first.certificatePem }));
    expect(err.codeName).toBe('KEY_NOT_FOUND');
  });

  it('When keygen.csr is given the key id, then the key pair gets that CKA_ID and the same id again is refused', async () => {
    const keyId = '5c'.repeat(16);
    expect((await call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT, keyId })).keyId).toBe(keyId);
    expect(privateKeyAttributes(keyId)).toMatchObject({ token: true, sensitive: true });
    expect((await rejection(call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm: 'RSA-2048', subject: SUBJECT, keyId }))).codeName).toBe('INVALID_PARAMS');
    expect(await call('key.remove', { mediaSerial: serial, pin: PIN, keyId })).toEqual({ keyId, removed: true });
  });

  it.each<KeyAlgorithm>(['RSA-2048', 'ECDSA-P256'])('When key.remove names the orphan %s key pair of an abandoned keygen.csr, then both its objects go, again answers removed: false, and a key with a certificate is KEY_IN_USE', async (algorithm) => {
    const { keyId } = await call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm, subject: SUBJECT });
    const installed = await renew(algorithm);
    expect(await call('key.remove', { mediaSerial: serial, pin: PIN, keyId })).toEqual({ keyId, removed: true });
    expect(await call('key.remove', { mediaSerial: serial, pin: PIN, keyId })).toEqual({ keyId, removed: false });
    // The orphan's key is gone: no certificate can be installed for it any more.
    const elsewhere = await ca.issueFor(generateSoftKeyPair(algorithm).spkiDer);
    expect((await rejection(call('cert.install', { mediaSerial: serial, pin: PIN, keyId, certificatePem: elsewhere }))).codeName).toBe('KEY_NOT_FOUND');
    expect((await rejection(call('key.remove', { mediaSerial: serial, pin: PIN, keyId: installed.keyId }))).codeName).toBe('KEY_IN_USE');
    await expect(call('sign', { mediaSerial: serial, certificateId: installed.certificateId, pin: PIN, dataBase64: 'AA==' })).resolves.toBeDefined();
  });

  it('When the certificate does not carry the key, or the device is unknown, then INVALID_PARAMS / DEVICE_NOT_FOUND', async () => {
    const { keyId } = await call('keygen.csr', { mediaSerial: serial, pin: PIN, algorithm: 'ECDSA-P256', subject: SUBJECT });
    const elsewhere = await ca.issueFor(generateSoftKeyPair('ECDSA-P256').spkiDer);
    const installed = await renew('ECDSA-P256');
    for (const certificatePem of [elsewhere, installed.certificatePem]) {
      expect((await rejection(call('cert.install', { mediaSerial: serial, pin: PIN, keyId, certificatePem }))).codeName).toBe('INVALID_PARAMS');
    }
    expect((await rejection(call('cert.list', { mediaSerial: 'no-such-token' }))).codeName).toBe('DEVICE_NOT_FOUND');
  });

  it('When a token disappears from its slot, then calls to it answer DEVICE_REMOVED and device.list no longer shows it', async () => {
    const gone = hsm.tokens[1];
    await call('cert.list', { mediaSerial: gone.serial });
    execFileSync('softhsm2-util', ['--delete-token', '--serial', gone.serial], { env: { ...process.env, ...hsm.env }, stdio: 'pipe' });
    const err = await rejection(call('cert.list', { mediaSerial: gone.serial }));
    expect([err.codeName, err.data]).toEqual(['DEVICE_REMOVED', { mediaSerial: gone.serial }]);
    expect((await call('device.list')).devices.map((d: DeviceInfo) => d.mediaSerial)).toEqual([serial]);
  });

  it('When the agent gets SIGTERM, then it logs out, finalises the module and exits 0', async () => {
    expect(agent.output()).toContain(serial);
    expect(await agent.stop()).toBe(0);
  });
});
