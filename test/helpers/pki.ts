import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Name } from '@peculiar/asn1-x509';
import { parseCertificate } from '../../src/lib/pki/certificate';
import { subjectToName } from '../../src/lib/pki/names';
import { OID } from '../../src/lib/pki/oids';
import { generateSoftKeyPair, signWithSoftKey, type SoftKeyPair } from '../../src/lib/pki/soft-keys';
import { type CertificateSubject, type KeyAlgorithm, type ParsedCertificate } from '../../src/lib/pki/types';
import { buildCertificate, type CertificateSigner } from '../../src/lib/pki/x509-builder';
import { buildCsr } from '../../src/lib/pki/csr';
import { type IssueRequest } from '../../src/providers/ca/types';

export const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';
const run = promisify(execFile);
const DAY = 86_400_000;

type Arg = string | { file: string; content: string | Uint8Array } | { output: string };

/**
 * Runs openssl in a temp dir: `{ file, content }` arguments are written there first, an `{ output }` argument
 * names a file read back into `output` afterwards. Resolves with the exit code and stdout + stderr.
 */
export async function openssl(args: Arg[]): Promise<{ code: number; out: string; output?: Uint8Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'pki-ossl-'));
  let outputPath: string | undefined;
  try {
    const argv = args.map((a) => {
      if (typeof a === 'string') return a;
      if ('output' in a) return (outputPath = join(dir, a.output));
      const path = join(dir, a.file);
      writeFileSync(path, a.content);
      return path;
    });
    try {
      const { stdout, stderr } = await run(OPENSSL, argv);
      return { code: 0, out: stdout + stderr, output: outputPath ? new Uint8Array(readFileSync(outputPath)) : undefined };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestCa {
  key: SoftKeyPair;
  name: Name;
  cert: ParsedCertificate;
  signer: CertificateSigner;
}

const signerOf = (key: SoftKeyPair, name: Name): CertificateSigner => ({
  name,
  spkiDer: key.spkiDer,
  algorithm: key.algorithm,
  sign: (tbs) => signWithSoftKey(key.algorithm, key.privateKeyPkcs8Der, tbs),
});

/** A CA certificate: self-signed when no issuer is given. Dates default to [now - 1 day, now + 1 year]. */
export async function makeCa(algorithm: KeyAlgorithm, cn: string, opts: { issuer?: TestCa; notBefore?: Date; notAfter?: Date; isCa?: boolean } = {}): Promise<TestCa> {
  const key = generateSoftKeyPair(algorithm);
  const name = subjectToName({ commonName: cn, organization: '数安测试', country: 'CN' });
  const der = await buildCertificate({
    serial: randomBytes(16),
    subject: name,
    subjectSpkiDer: key.spkiDer,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
    issuer: opts.issuer?.signer,
    selfSign: opts.issuer ? undefined : (tbs) => signWithSoftKey(algorithm, key.privateKeyPkcs8Der, tbs),
    ca: opts.isCa === false ? undefined : {},
    keyUsage: opts.isCa === false ? ['digitalSignature'] : ['keyCertSign', 'crlSign'],
  });
  return { key, name, cert: parseCertificate(der), signer: signerOf(key, name) };
}

export async function makeLeaf(issuer: TestCa, algorithm: KeyAlgorithm, subject: CertificateSubject = { commonName: '张三', organization: '数安测试' }) {
  const key = generateSoftKeyPair(algorithm);
  const der = await buildCertificate({
    serial: randomBytes(16),
    subject,
    subjectSpkiDer: key.spkiDer,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    issuer: issuer.signer,
    keyUsage: ['digitalSignature', 'nonRepudiation'],
    extendedKeyUsage: [OID.kpClientAuth, OID.kpEmailProtection],
    policyOids: ['1.3.6.1.4.1.59999.1.1'],
  });
  return { key, cert: parseCertificate(der) };
}

/** An IssueRequest for a fresh soft key (a 机构证书 of 梅州市住房公积金, one year), with the key that signed the CSR. */
export async function makeIssueRequest(algorithm: KeyAlgorithm, overrides: Partial<IssueRequest> = {}) {
  const key = generateSoftKeyPair(algorithm);
  const csrPem = await buildCsr({ subject: { commonName: 'CSR 里的名字' }, spkiDer: key.spkiDer, sign: async (tbs) => signWithSoftKey(algorithm, key.privateKeyPkcs8Der, tbs) });
  const now = Date.now();
  const request: IssueRequest = {
    requestId: randomUUID(),
    csrPem,
    subject: { commonName: '梅州市某某建筑工程有限公司', organization: '梅州市某某建筑工程有限公司', creditCode: '91441400MA4UABCD1X', country: 'CN' },
    profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' },
    validity: { notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY) },
    mediaSerial: 'GDCA0001',
    ...overrides,
  };
  return { key, request };
}
