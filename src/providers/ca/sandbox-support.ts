import { randomBytes } from 'node:crypto';
import { parseCsr, type ParsedCsr } from '../../lib/pki/csr';
import { CaError } from './types';

/** Canonical serial: lower-case hex, no separators, no leading zero octets (a DER sign octet included). */
export function canonicalSerial(serialHex: string): string {
  return serialHex.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^(00)+(?=..)/, '');
}

/** 16 random octets, top bit clear (positive without a sign octet), never starting with a zero octet. */
export function randomSerial(): Uint8Array {
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) || 0x01;
  return new Uint8Array(serial);
}

export function checkedCsr(pem: string): ParsedCsr {
  let csr: ParsedCsr;
  try {
    csr = parseCsr(pem);
  } catch (err) {
    const message = (err as Error).message;
    throw new CaError(/unsupported public key/.test(message) ? 'unsupported-key' : 'bad-csr', `CSR refused: ${message}`, undefined, { cause: err });
  }
  if (!csr.signatureValid) {
    throw new CaError('bad-csr', `CSR refused: its ${csr.algorithm} signature does not verify${csr.algorithm === 'SM2' ? ' (SM2 checked with the default signer ID 1234567812345678)' : ''}`);
  }
  return csr;
}
