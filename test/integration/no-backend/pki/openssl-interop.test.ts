import { buildCsr, parseCsr } from '../../../../src/lib/pki/csr';
import { toPem } from '../../../../src/lib/pki/certificate';
import { verifySignature } from '../../../../src/lib/pki/signature';
import { generateSoftKeyPair, signWithSoftKey } from '../../../../src/lib/pki/soft-keys';
import { KEY_ALGORITHMS, SM2_DEFAULT_USER_ID, type CertificateSubject } from '../../../../src/lib/pki/types';
import { openssl } from '../../../helpers/pki';

/** Cross-checks with the `openssl` CLI (a child process and temporary files, hence not a unit test). */
const subject: CertificateSubject = {
  commonName: '梅州市某某建筑工程有限公司',
  organization: '梅州市某某建筑工程有限公司',
  organizationalUnit: '财务部',
  creditCode: '91441400MA4UABCD1X',
  locality: '梅州市',
  province: '广东省',
  country: 'CN',
};

const data = new TextEncoder().encode('数安 CA 管家: 待签名的数据');

describe.each(KEY_ALGORITHMS)('%s with OpenSSL', (algorithm) => {
  const key = generateSoftKeyPair(algorithm);
  const sign = async (tbs: Uint8Array) => signWithSoftKey(algorithm, key.privateKeyPkcs8Der, tbs);

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
  it('When OpenSSL reads the PKCS#8 key, then it accepts it', async () => {
    const r = await openssl(['pkey', '-noout', '-in', { file: 'k.pem', content: toPem(key.privateKeyPkcs8Der, 'PRIVATE KEY') }]);
    expect(r).toEqual({ code: 0, out: '' });
  });
});

describe('SM2 with OpenSSL', () => {
  it('When OpenSSL signs with SM3 and distid 1234567812345678, then our verifier accepts it', async () => {
    const key = generateSoftKeyPair('SM2');
    const r = await openssl(['pkeyutl', '-sign', '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${SM2_DEFAULT_USER_ID}`,
      '-inkey', { file: 'k.pem', content: toPem(key.privateKeyPkcs8Der, 'PRIVATE KEY') }, '-in', { file: 'd.bin', content: data }, '-out', { output: 'sig.der' }]);
    expect(r.code).toBe(0);
    expect(verifySignature(key.spkiDer, data, r.output!)).toBe(true);
  });
});
