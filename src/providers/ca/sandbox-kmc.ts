import { createHash } from 'node:crypto';
import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { type Logger } from '../../lib/logger';
import { decodeSm2Pkcs8, decodeSm2Spki, encodeSm2Pkcs8, encodeSm2Spki, generateSm2KeyPair } from '../../lib/pki/sm2';
import { buildSm2EnvelopedKey } from '../../lib/pki/sm2-envelope';
import { type SandboxCaIssued, SandboxCaIssuedEntity, SandboxKmcKeyEntity } from './entities';
import { decryptPrivateKey, encryptPrivateKey } from './key-protection';

export interface KmcDelivery {
  certificatePem: string;
  serialHex: string;
  /** SM2EnvelopedKey (GM/T 0009 §7.4), DER, base64, wrapped to the signing public key asked for. */
  envelopedKeyBase64: string;
}

export interface KmcRequest {
  /** Identifies the encryption key pair (e.g. the renewal): a later request with it never makes another pair. */
  keyRequestId: string;
  /** SPKI of the holder's new signing key (from the CSR): the envelope is wrapped to it. */
  signingSpkiDer: Uint8Array;
  /** Builds (does not store) the encryption certificate for this public key: the CA's profile, subject, validity. */
  certificateFor(encryptionSpkiDer: Uint8Array): Promise<SandboxCaIssued>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** The AES-GCM additional data of an archived key: a ciphertext moved onto another row does not decrypt. */
const archiveLabel = (keyRequestId: string) => `kmc:${keyRequestId}`;

/**
 * The built-in CA's key-management centre for SM2 dual certificates (GM/T 0034 in miniature): it generates the
 * encryption key pair, archives the private key (AES-256-GCM under CA_KEY_ENCRYPTION_KEY, like the CA keys: an
 * old encryption key stays recoverable), issues the encryption certificate and delivers the pair as an
 * SM2EnvelopedKey wrapped to the holder's signing public key.
 * - Same keyRequestId, same signing key: the stored envelope again, byte for byte (a retry after a pulled key).
 * - Same keyRequestId, another signing key (a new CSR after an abandoned one): the archived key re-wrapped to it;
 *   the encryption certificate stays the same.
 * The key row and the certificate row are inserted in one transaction; of two concurrent first requests one
 * wins the unique key, the other's pair and certificate are never stored nor handed out.
 */
export class SandboxKmc {
  constructor(private readonly deps: { db: DataSource; clock: Clock; logger: Logger; kek: Buffer }) {}

  async deliver(req: KmcRequest): Promise<KmcDelivery> {
    const signingPublicKey = decodeSm2Spki(req.signingSpkiDer);
    const signingSha = sha256(req.signingSpkiDer);
    const keys = this.deps.db.getRepository(SandboxKmcKeyEntity);
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await keys.findOneBy({ keyRequestId: req.keyRequestId });
      if (!row) {
        const created = await this.create(req, signingPublicKey, signingSha);
        if (created) return created;
        continue; // lost the race: re-read the winner's key
      }
      const cert = await this.deps.db.getRepository(SandboxCaIssuedEntity).findOneByOrFail({ serialHex: row.encryptionSerialHex });
      if (row.signingSpkiSha256 === signingSha) return { certificatePem: cert.certificatePem, serialHex: cert.serialHex, envelopedKeyBase64: row.envelopedKeyBase64 };

      const archived = decodeSm2Pkcs8(decryptPrivateKey(this.deps.kek, archiveLabel(req.keyRequestId), row.encryptedPrivateKey));
      const envelopedKeyBase64 = Buffer.from(buildSm2EnvelopedKey(archived, signingPublicKey)).toString('base64');
      archived.privateKey.fill(0);
      const result = await keys.update(
        { id: row.id, signingSpkiSha256: row.signingSpkiSha256 },
        { signingSpkiSha256: signingSha, envelopedKeyBase64, updatedAt: new Date(this.deps.clock.nowMs()) },
      );
      if (result.affected !== 1) continue; // another signing key was delivered to meanwhile: decide again
      this.deps.logger.info({ keyRequestId: req.keyRequestId, serial: cert.serialHex }, 'sandbox KMC re-wrapped an archived encryption key to a new signing key');
      return { certificatePem: cert.certificatePem, serialHex: cert.serialHex, envelopedKeyBase64 };
    }
    throw new Error(`sandbox KMC ${req.keyRequestId}: the key kept changing under us; try again`);
  }

  /** undefined when another request created the key first. */
  private async create(req: KmcRequest, signingPublicKey: Uint8Array, signingSha: string): Promise<KmcDelivery | undefined> {
    const pair = generateSm2KeyPair();
    const issued = await req.certificateFor(encodeSm2Spki(pair.publicKey));
    const envelopedKeyBase64 = Buffer.from(buildSm2EnvelopedKey(pair, signingPublicKey)).toString('base64');
    const now = new Date(this.deps.clock.nowMs());
    const archive = {
      keyRequestId: req.keyRequestId,
      encryptionSerialHex: issued.serialHex,
      encryptedPrivateKey: encryptPrivateKey(this.deps.kek, archiveLabel(req.keyRequestId), encodeSm2Pkcs8(pair)),
      signingSpkiSha256: signingSha,
      envelopedKeyBase64,
      createdAt: now,
      updatedAt: now,
    };
    pair.privateKey.fill(0);
    try {
      await inTransaction(this.deps.db, async (em) => {
        await em.getRepository(SandboxKmcKeyEntity).insert(archive);
        await em.getRepository(SandboxCaIssuedEntity).insert(issued);
      });
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
    this.deps.logger.info({ keyRequestId: req.keyRequestId, serial: issued.serialHex }, 'sandbox KMC generated, archived and enveloped an SM2 encryption key');
    return { certificatePem: issued.certificatePem, serialHex: issued.serialHex, envelopedKeyBase64 };
  }
}
