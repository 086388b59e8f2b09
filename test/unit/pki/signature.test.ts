import { sm2 as smCrypto } from 'sm-crypto-v2';
import { toPem } from '../../../src/lib/pki/certificate';
import { algorithmOfSpki, verifySignature } from '../../../src/lib/pki/signature';
import { decodeSm2Pkcs8, decodeSm2Spki, encodeSm2Spki, sm2Z } from '../../../src/lib/pki/sm2';
import { generateSoftKeyPair, signWithSoftKey } from '../../../src/lib/pki/soft-keys';
import { KEY_ALGORITHMS, SM2_DEFAULT_USER_ID } from '../../../src/lib/pki/types';
import { generateKeyPairSync } from 'node:crypto';

const data = new TextEncoder().encode('数安 CA 管家: 待签名的数据');

describe.each(KEY_ALGORITHMS)('%s soft keys', (algorithm) => {
  const key = generateSoftKeyPair(algorithm);
  const other = generateSoftKeyPair(algorithm);

  it('When data is signed with the soft key, then the signature verifies with its SPKI', () => {
    const sig = signWithSoftKey(algorithm, key.privateKeyPkcs8Der, data);
    expect(algorithmOfSpki(key.spkiDer)).toBe(algorithm);
    expect(verifySignature(key.spkiDer, data, sig)).toBe(true);
  });

  it('When the key is another one or the data was tampered with, then verification is false', () => {
    const sig = signWithSoftKey(algorithm, key.privateKeyPkcs8Der, data);
    expect(verifySignature(other.spkiDer, data, sig)).toBe(false);
    const tampered = new Uint8Array(data);
    tampered[0] ^= 1;
    expect(verifySignature(key.spkiDer, tampered, sig)).toBe(false);
  });

  it('When the signature is garbage, then verification is false and does not throw', () => {
    for (const garbage of [new Uint8Array(0), new Uint8Array([0x30, 0x02, 0x02, 0x00]), new Uint8Array(70).fill(0xff), new Uint8Array(256)]) {
      expect(verifySignature(key.spkiDer, data, garbage)).toBe(false);
    }
    expect(verifySignature(new Uint8Array([1, 2, 3]), data, new Uint8Array(64))).toBe(false);
  });
});

describe('SM2 details', () => {
  it('When Z(A) is computed, then it equals sm-crypto-v2 getZ with the default ID', () => {
    const kp = decodeSm2Pkcs8(generateSoftKeyPair('SM2').privateKeyPkcs8Der);
    const theirs = smCrypto.getZ(Buffer.from(kp.publicKey).toString('hex'), SM2_DEFAULT_USER_ID);
    expect(Buffer.from(sm2Z(kp.publicKey)).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
  });

  it('When sm-crypto-v2 signs with hash and the default ID, then our verifier accepts it (and vice versa)', () => {
    const key = generateSoftKeyPair('SM2');
    const kp = decodeSm2Pkcs8(key.privateKeyPkcs8Der);
    const pubHex = Buffer.from(kp.publicKey).toString('hex');
    const theirs = Buffer.from(smCrypto.doSignature(data, Buffer.from(kp.privateKey).toString('hex'), { der: true, hash: true, userId: SM2_DEFAULT_USER_ID }), 'hex');
    expect(verifySignature(key.spkiDer, data, theirs)).toBe(true);
    const ours = Buffer.from(signWithSoftKey('SM2', key.privateKeyPkcs8Der, data)).toString('hex');
    expect(smCrypto.doVerifySignature(data, ours, pubHex, { der: true, hash: true, userId: SM2_DEFAULT_USER_ID })).toBe(true);
  });

  it('When the SPKI carries a compressed point, then it decodes to the same uncompressed key', () => {
    const kp = decodeSm2Pkcs8(generateSoftKeyPair('SM2').privateKeyPkcs8Der);
    const compressed = new Uint8Array([2 + (kp.publicKey[64] & 1), ...kp.publicKey.subarray(1, 33)]);
    expect(Buffer.from(decodeSm2Spki(encodeSm2Spki(compressed))).equals(Buffer.from(kp.publicKey))).toBe(true);
  });

  it('When the key is RSA-3072 or P-384, then algorithmOfSpki refuses it', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ type: 'spki', format: 'der' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' });
    expect(() => algorithmOfSpki(new Uint8Array(rsa))).toThrow(/RSA-3072/);
    expect(() => algorithmOfSpki(new Uint8Array(p384))).toThrow(/ECDSA-P384/);
  });
});
