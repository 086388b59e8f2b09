import { buildCsr, parseCsr } from '../../../src/lib/pki/csr';
import { toPem } from '../../../src/lib/pki/certificate';
import { generateSoftKeyPair, signWithSoftKey } from '../../../src/lib/pki/soft-keys';
import { KEY_ALGORITHMS, SM2_DEFAULT_USER_ID, type CertificateSubject } from '../../../src/lib/pki/types';
import { openssl } from '../../helpers/pki';

const subject: CertificateSubject = {
  commonName: '梅州市某某建筑工程有限公司',
  organization: '梅州市某某建筑工程有限公司',
  organizationalUnit: '财务部',
  creditCode: '91441400MA4UABCD1X',
  locality: '梅州市',
  province: '广东省',
  country: 'CN',
};

describe.each(KEY_ALGORITHMS)('%s CSR', (algorithm) => {
  const key = generateSoftKeyPair(algorithm);
  const sign = async (tbs: Uint8Array) => signWithSoftKey(algorithm, key.privateKeyPkcs8Der, tbs);

  it('When a CSR is built with a soft key, then it parses with a valid signature, the same subject and key', async () => {
    const pem = await buildCsr({ subject, spkiDer: key.spkiDer, sign });
    const parsed = parseCsr(pem);
    expect(parsed).toMatchObject({ subject, algorithm, signatureValid: true });
    expect(Buffer.from(parsed.spkiDer).equals(Buffer.from(key.spkiDer))).toBe(true);
  });

  it('When OpenSSL checks the CSR, then `openssl req -verify` accepts it (SM2 with distid 1234567812345678)', async () => {
    const pem = await buildCsr({ subject, spkiDer: key.spkiDer, sign });
    const vfy = algorithm === 'SM2' ? ['-vfyopt', `distid:${SM2_DEFAULT_USER_ID}`] : [];
    const r = await openssl(['req', '-verify', '-noout', ...vfy, '-in', { file: 'r.csr', content: pem }]);
    expect(r.out).toMatch(/verify OK/);
    expect(r.code).toBe(0);
  });

  it('When OpenSSL made the CSR, then parseCsr reads it and finds the signature valid', async () => {
    const sigopt = algorithm === 'SM2' ? ['-sm3', '-sigopt', `distid:${SM2_DEFAULT_USER_ID}`] : [];
    const r = await openssl(['req', '-new', ...sigopt, '-utf8', '-subj', '/C=CN/O=数安测试/serialNumber=91441400MA4UABCD1X/CN=李四',
      '-key', { file: 'k.pem', content: toPem(key.privateKeyPkcs8Der, 'PRIVATE KEY') }, '-out', { output: 'r.csr' }]);
    expect(r.code).toBe(0);
    const parsed = parseCsr(Buffer.from(r.output!).toString());
    expect(parsed).toMatchObject({ algorithm, signatureValid: true, subject: { commonName: '李四', organization: '数安测试', creditCode: '91441400MA4UABCD1X', country: 'CN' } });
  });

  it('When the CSR was tampered with or signed by another key, then signatureValid is false', async () => {
    const pem = await buildCsr({ subject, spkiDer: key.spkiDer, sign });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('财务部'));
    der[at + 2] ^= 1;
    expect(parseCsr(toPem(der, 'CERTIFICATE REQUEST')).signatureValid).toBe(false);
    const other = generateSoftKeyPair(algorithm);
    await expect(buildCsr({ subject, spkiDer: key.spkiDer, sign: async (tbs) => signWithSoftKey(algorithm, other.privateKeyPkcs8Der, tbs) }))
      .rejects.toThrow(/does not verify/);
  });
});

it('When the text is not a CSR, then parseCsr throws a clear error', () => {
  expect(() => parseCsr('hello')).toThrow(/not a PEM CERTIFICATE REQUEST/);
  expect(() => parseCsr(toPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), 'CERTIFICATE REQUEST'))).toThrow(/not a PKCS#10 request/);
});
