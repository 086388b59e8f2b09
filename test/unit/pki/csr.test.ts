import { buildCsr, parseCsr } from '../../../src/lib/pki/csr';
import { toPem } from '../../../src/lib/pki/certificate';
import { generateSoftKeyPair, signWithSoftKey } from '../../../src/lib/pki/soft-keys';
import { KEY_ALGORITHMS, type CertificateSubject } from '../../../src/lib/pki/types';

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
