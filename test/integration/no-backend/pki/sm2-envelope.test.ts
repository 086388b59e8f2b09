import { toPem } from '../../../../src/lib/pki/certificate';
import { toHex } from '../../../../src/lib/pki/der';
import { envelopedKeyToSkfBlob, SGD_SM4_ECB } from '../../../../src/lib/pki/skf-blob';
import { encodeSm2Pkcs8, encodeSm2Spki, generateSm2KeyPair } from '../../../../src/lib/pki/sm2';
import { buildSm2EnvelopedKey, encodeSm2Cipher, openSm2EnvelopedKey, parseSm2EnvelopedKey, sm2Decrypt, sm2Encrypt } from '../../../../src/lib/pki/sm2-envelope';
import { openssl } from '../../../helpers/pki';

describe('SM2 encryption (SM2Cipher, C1C3C2 in ASN.1)', () => {
  it('When we encrypt, then OpenSSL decrypts; when OpenSSL encrypts, then we decrypt', async () => {
    const key = generateSm2KeyPair();
    const keyFile = { file: 'key.pem', content: toPem(encodeSm2Pkcs8(key), 'PRIVATE KEY') };
    const message = new Uint8Array(Buffer.from('数安 KMC 测试 0123456789'));
    const ours = sm2Encrypt(key.publicKey, message);
    const byOpenssl = await openssl(['pkeyutl', '-decrypt', '-inkey', keyFile, '-in', { file: 'c.der', content: ours }, '-out', { output: 'p.bin' }]);
    expect(byOpenssl.code).toBe(0);
    expect(Buffer.from(byOpenssl.output!).toString()).toBe('数安 KMC 测试 0123456789');

    const pubFile = { file: 'pub.pem', content: toPem(encodeSm2Spki(key.publicKey), 'PUBLIC KEY') };
    const enc = await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', pubFile, '-in', { file: 'm.bin', content: message }, '-out', { output: 'c.der' }]);
    expect(enc.code).toBe(0);
    expect(toHex(sm2Decrypt(key.privateKey, enc.output!))).toBe(toHex(message));
  });

  it('When the wrong private key decrypts, or the ciphertext is damaged, then decryption throws', () => {
    const key = generateSm2KeyPair();
    const c = sm2Encrypt(key.publicKey, new Uint8Array(16).fill(9));
    expect(() => sm2Decrypt(generateSm2KeyPair().privateKey, c)).toThrow(/SM2 decryption failed/);
    const damaged = new Uint8Array(c);
    damaged[damaged.length - 1] ^= 1;
    expect(() => sm2Decrypt(key.privateKey, damaged)).toThrow(/SM2 decryption failed/);
  });
});

describe('SM2EnvelopedKey (GM/T 0009 §7.4)', () => {
  it('When an encryption key pair is enveloped to a signing key, then the signing private key opens it and gets the same pair', async () => {
    const signing = generateSm2KeyPair();
    const encryption = generateSm2KeyPair();
    const der = buildSm2EnvelopedKey(encryption, signing.publicKey);
    const opened = openSm2EnvelopedKey(der, signing.privateKey);
    expect(toHex(opened.privateKey)).toBe(toHex(encryption.privateKey));
    expect(toHex(opened.publicKey)).toBe(toHex(encryption.publicKey));

    const env = parseSm2EnvelopedKey(der);
    expect(env.symAlgOid).toBe('1.2.156.10197.1.104.1');
    expect(toHex(env.publicKey)).toBe(toHex(encryption.publicKey));
    expect(env.encryptedPrivateKey).toHaveLength(32);
    expect(toHex(env.encryptedPrivateKey)).not.toBe(toHex(encryption.privateKey));
    expect(env.symEncryptedKey.ciphertext).toHaveLength(16);
    // OpenSSL reads the same structure: SEQUENCE { SEQUENCE { OID }, SEQUENCE { INT, INT, OCTET STRING, OCTET STRING }, BIT STRING, BIT STRING }
    const parsed = await openssl(['asn1parse', '-inform', 'DER', '-in', { file: 'env.der', content: der }]);
    expect(parsed.code).toBe(0);
    expect(parsed.out.match(/(SEQUENCE|OBJECT|INTEGER|OCTET STRING|BIT STRING)/g)).toEqual(['SEQUENCE', 'SEQUENCE', 'OBJECT', 'SEQUENCE', 'INTEGER', 'INTEGER', 'OCTET STRING', 'OCTET STRING', 'BIT STRING', 'BIT STRING']);
  });

  it('When another private key tries to open the envelope, then it fails', () => {
    const der = buildSm2EnvelopedKey(generateSm2KeyPair(), generateSm2KeyPair().publicKey);
    expect(() => openSm2EnvelopedKey(der, generateSm2KeyPair().privateKey)).toThrow(/SM2 decryption failed/);
  });

  it('When the envelope names another public key than the private key inside, then opening refuses it', () => {
    const signing = generateSm2KeyPair();
    const der = buildSm2EnvelopedKey(generateSm2KeyPair(), signing.publicKey);
    const other = generateSm2KeyPair().publicKey;
    const env = parseSm2EnvelopedKey(der);
    const swapped = Buffer.from(der);
    swapped.set(other, swapped.indexOf(Buffer.from(env.publicKey)));
    expect(() => openSm2EnvelopedKey(new Uint8Array(swapped), signing.privateKey)).toThrow(/does not match the enveloped public key/);
  });
});

describe('ENVELOPEDKEYBLOB (GM/T 0016, for SKF_ImportECCKeyPair)', () => {
  it('When an envelope is converted, then the blob has the SKF layout: little-endian ULONGs, 64-octet right-aligned fields, 388 octets', () => {
    const signing = generateSm2KeyPair();
    const encryption = generateSm2KeyPair();
    const der = buildSm2EnvelopedKey(encryption, signing.publicKey);
    const env = parseSm2EnvelopedKey(der);
    const cipher = env.symEncryptedKey;
    const blob = Buffer.from(envelopedKeyToSkfBlob(der));
    const zeros32 = '00'.repeat(32);

    expect(blob.length).toBe(388);
    expect(blob.readUInt32LE(0)).toBe(1); // Version
    expect(blob.readUInt32LE(4)).toBe(SGD_SM4_ECB); // ulSymmAlgID 0x401
    expect(blob.subarray(4, 8).toString('hex')).toBe('01040000');
    expect(blob.readUInt32LE(8)).toBe(256); // ulBits
    expect(blob.subarray(12, 76).toString('hex')).toBe(zeros32 + toHex(env.encryptedPrivateKey)); // cbEncryptedPriKey[64]
    expect(blob.readUInt32LE(76)).toBe(256); // PubKey.BitLen
    expect(blob.subarray(80, 144).toString('hex')).toBe(zeros32 + toHex(encryption.publicKey.subarray(1, 33))); // PubKey.XCoordinate
    expect(blob.subarray(144, 208).toString('hex')).toBe(zeros32 + toHex(encryption.publicKey.subarray(33))); // PubKey.YCoordinate
    expect(blob.subarray(208, 272).toString('hex')).toBe(zeros32 + toHex(cipher.x)); // ECCCipherBlob.XCoordinate
    expect(blob.subarray(272, 336).toString('hex')).toBe(zeros32 + toHex(cipher.y)); // ECCCipherBlob.YCoordinate
    expect(blob.subarray(336, 368).toString('hex')).toBe(toHex(cipher.hash)); // HASH[32]
    expect(blob.readUInt32LE(368)).toBe(16); // CipherLen
    expect(blob.subarray(372).toString('hex')).toBe(toHex(cipher.ciphertext)); // Cipher

    // The C1 || C3 || C2 in the blob is the same ciphertext: the signing key still decrypts the SM4 key from it.
    expect(sm2Decrypt(signing.privateKey, sm2CipherFromBlob(blob))).toHaveLength(16);
  });
});

function sm2CipherFromBlob(blob: Buffer): Uint8Array {
  return encodeSm2Cipher({ x: blob.subarray(240, 272), y: blob.subarray(304, 336), hash: blob.subarray(336, 368), ciphertext: blob.subarray(372, 372 + blob.readUInt32LE(368)) });
}
