import { generateKeyPairSync } from 'node:crypto';
import { aesOpen, FACEID_RSA_PUBLIC_KEY_PEM, faceIdPublicKey, sandboxOpenKey, sandboxSealBody, sealFields, sealForResponse } from '../../../src/providers/liveness/faceid-crypto';

const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
const pub = pair.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const priv = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

describe('FaceID sensitive-field encryption (AES-256-CBC + RSA PKCS#1 v1.5)', () => {
  it('When Name and IdCard are sealed, then the holder of the private key recovers them and the request carries no plaintext', () => {
    const { key, params } = sealFields(faceIdPublicKey(pub), { Name: '张三', IdCard: '11010519491231002X' });
    expect(key).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(JSON.stringify(params)).not.toContain('11010519491231002X');
    const enc = params.Encryption as { EncryptList: string[]; CiphertextBlob: string; Iv: string; Algorithm: string };
    expect(enc).toMatchObject({ EncryptList: ['Name', 'IdCard'], Algorithm: 'AES-256-CBC' });
    expect(Buffer.from(enc.Iv, 'base64')).toHaveLength(16);
    const opened = sandboxOpenKey(priv, enc.CiphertextBlob);
    expect(opened).toBe(key);
    expect(aesOpen(opened, enc.Iv, params.IdCard as string)).toBe('11010519491231002X');
    expect(aesOpen(opened, enc.Iv, params.Name as string)).toBe('张三');
  });

  it('When a response is sealed with the key passed for it, then only that key opens it', () => {
    const { key, encryption } = sealForResponse(faceIdPublicKey(pub));
    expect(encryption.EncryptList).toEqual(['EncryptionBody']);
    const sealed = sandboxSealBody(sandboxOpenKey(priv, encryption.CiphertextBlob), { Text: { ErrCode: 0 } });
    expect(JSON.parse(aesOpen(key, sealed.Iv, sealed.EncryptedBody))).toEqual({ Text: { ErrCode: 0 } });
    // CBC has no tag: a wrong key usually fails the padding check, but about 1 time in 256 the padding happens to
    // be valid and garbage comes out. Either way the body is not recovered (the client's JSON.parse refuses garbage).
    let wrong: string | undefined;
    try {
      wrong = aesOpen('x'.repeat(32), sealed.Iv, sealed.EncryptedBody);
    } catch {
      wrong = undefined;
    }
    expect(wrong).not.toBe(JSON.stringify({ Text: { ErrCode: 0 } }));
  });

  it('When FaceID\'s published public key is loaded, then it is a 1024-bit RSA key', () => {
    const key = faceIdPublicKey(FACEID_RSA_PUBLIC_KEY_PEM);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(1024);
  });
});
