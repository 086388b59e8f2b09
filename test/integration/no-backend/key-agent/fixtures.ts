import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { KeyAgentClient } from '../../../../src/key-agent/client';
import { parseCertificate, toPem } from '../../../../src/lib/pki/certificate';
import { parseCsr } from '../../../../src/lib/pki/csr';
import { subjectToName } from '../../../../src/lib/pki/names';
import { generateSoftKeyPair, signWithSoftKey } from '../../../../src/lib/pki/soft-keys';
import { type CertificateSubject, type KeyAlgorithm } from '../../../../src/lib/pki/types';
import { buildCertificate } from '../../../../src/lib/pki/x509-builder';

/** A silent logger (tests read the agent's answers, not its logs). */
export const quietLogger = () => pino({ level: 'silent' });

/** A temporary folder removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const SUBJECT: CertificateSubject = { commonName: '张三', organization: '数安测试有限公司', creditCode: '91110000MA01ABCD2X', country: 'CN' };

/**
 * A throwaway CA for tests: issues end-entity certificates for a CSR or a public key, through the PKI
 * module's certificate builder (the same code the built-in CA uses).
 */
export class TestCa {
  private constructor(private readonly key: { algorithm: KeyAlgorithm; privateKeyPkcs8Der: Uint8Array; spkiDer: Uint8Array }, private readonly name = subjectToName({ commonName: '数安测试 CA', organization: '数安', country: 'CN' })) {}

  static create(algorithm: KeyAlgorithm = 'ECDSA-P256'): TestCa {
    return new TestCa(generateSoftKeyPair(algorithm));
  }

  async issueFor(spkiDer: Uint8Array, subject: CertificateSubject = SUBJECT, days = 365): Promise<string> {
    const now = Date.now();
    const der = await buildCertificate({
      serial: randomBytes(12),
      subject,
      subjectSpkiDer: spkiDer,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + days * 86_400_000),
      issuer: { name: this.name, spkiDer: this.key.spkiDer, algorithm: this.key.algorithm, sign: (tbs) => signWithSoftKey(this.key.algorithm, this.key.privateKeyPkcs8Der, tbs) },
      keyUsage: ['digitalSignature', 'nonRepudiation'],
    });
    return toPem(der, 'CERTIFICATE');
  }

  /** Checks the CSR's self-signature first, as a CA would. */
  async issueFromCsr(csrPem: string, days = 365): Promise<string> {
    const csr = parseCsr(csrPem);
    if (!csr.signatureValid) throw new Error('CSR signature does not verify');
    return this.issueFor(csr.spkiDer, csr.subject, days);
  }
}

/** A key pair and a certificate for it, for putting on a token with importKeyAndCertificate. */
export async function softKeyWithCertificate(ca: TestCa, algorithm: KeyAlgorithm): Promise<{ privateKeyPkcs8Der: Uint8Array; certificatePem: string; spkiDer: Uint8Array }> {
  const pair = generateSoftKeyPair(algorithm);
  const certificatePem = await ca.issueFor(pair.spkiDer);
  return { privateKeyPkcs8Der: pair.privateKeyPkcs8Der, spkiDer: parseCertificate(certificatePem).spkiDer, certificatePem };
}

export interface AgentProcess {
  url: string;
  client: KeyAgentClient;
  output: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * `npm run key-agent` as a child process (port chosen by the OS, read from its banner). PKCS#11 tests need
 * this: the module reads SOFTHSM2_CONF from the real environment, which jest's sandboxed process.env is not,
 * and each test file gets its own C_Initialize/C_Finalize.
 */
export async function spawnKeyAgent(env: Record<string, string>): Promise<AgentProcess> {
  const root = resolve(__dirname, '../../../..');
  const child = spawn(process.execPath, [resolve(root, 'node_modules/tsx/dist/cli.mjs'), 'src/key-agent/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', KEY_AGENT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const started = Date.now();
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1])) {
    if (child.exitCode !== null) throw new Error(`key agent exited early:\n${out}`);
    if (Date.now() - started > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`key agent did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    client: new KeyAgentClient({ url }),
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
