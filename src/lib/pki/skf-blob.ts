import { parseSm2EnvelopedKey } from './sm2-envelope';

/**
 * GM/T 0016-2012 (SKF, the smart-token API of Chinese U-KEYs) ENVELOPEDKEYBLOB, the input of
 * SKF_ImportECCKeyPair, converted from a GM/T 0009 SM2EnvelopedKey. Pure byte re-arrangement: nothing is
 * decrypted, so it runs wherever the envelope is (the key agent), never needing the key inside.
 *
 *   ENVELOPEDKEYBLOB {
 *     ULONG Version;                 // 1
 *     ULONG ulSymmAlgID;             // SGD_SM4_ECB 0x00000401 (GM/T 0006)
 *     ULONG ulBits;                  // 256
 *     BYTE  cbEncryptedPriKey[64];   // SM4-ECB ciphertext of the private key, right-aligned (32 zero octets first)
 *     ECCPUBLICKEYBLOB PubKey;       // ULONG BitLen (256); BYTE XCoordinate[64]; BYTE YCoordinate[64] (right-aligned)
 *     ECCCIPHERBLOB ECCCipherBlob;   // BYTE XCoordinate[64]; BYTE YCoordinate[64]; BYTE HASH[32]; ULONG CipherLen; BYTE Cipher[CipherLen]
 *   }
 *
 * ULONG is 32 bits, little-endian (the SKF DLLs are Windows x86/x64). ECC coordinates are 256-bit values
 * right-aligned in 64-octet fields (the fields leave room for 512-bit curves). ECCCipherBlob ends with the
 * CipherLen octets of the encrypted symmetric key (16 for SM4); C declarations write `Cipher[1]`, so a caller
 * allocating `sizeof(ENVELOPEDKEYBLOB)` must add CipherLen - 1. The total here is 388 octets for an SM4 key.
 */
export const SGD_SM4_ECB = 0x00000401;
const FIELD = 64;

export function envelopedKeyToSkfBlob(envelopeDer: Uint8Array): Uint8Array {
  const env = parseSm2EnvelopedKey(envelopeDer);
  const c = env.symEncryptedKey;
  const out = Buffer.alloc(12 + FIELD + (4 + 2 * FIELD) + (2 * FIELD + 32 + 4 + c.ciphertext.length));
  let p = 0;
  const ulong = (v: number) => {
    out.writeUInt32LE(v, p);
    p += 4;
  };
  const field = (bytes: Uint8Array, size: number) => {
    out.set(bytes, p + size - bytes.length); // right-aligned, zeros before
    p += size;
  };
  ulong(1);
  ulong(SGD_SM4_ECB);
  ulong(256);
  field(env.encryptedPrivateKey, FIELD);
  ulong(256);
  field(env.publicKey.subarray(1, 33), FIELD);
  field(env.publicKey.subarray(33, 65), FIELD);
  field(c.x, FIELD);
  field(c.y, FIELD);
  field(c.hash, 32);
  ulong(c.ciphertext.length);
  field(c.ciphertext, c.ciphertext.length);
  return new Uint8Array(out);
}
