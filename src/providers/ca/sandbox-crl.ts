import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { isUniqueViolation } from '../../lib/db/sql';
import { type Logger } from '../../lib/logger';
import { buildCrl, type CrlIssuer } from '../../lib/pki/crl';
import { SandboxCaCrlEntity, type SandboxCaCrl, SandboxCaIssuedEntity } from './entities';

const HOUR_MS = 3_600_000;
/** nextUpdate = thisUpdate + 7 days; a CRL older than a day is re-signed when asked for, so a served CRL never nears expiry. */
export const CRL_VALIDITY_MS = 7 * 24 * HOUR_MS;
export const CRL_REFRESH_AFTER_MS = 24 * HOUR_MS;

export interface PublishedCrl {
  der: Uint8Array;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * The built-in CA's CRLs, one per issuing CA, kept in `sandbox_ca_crls` (the CRL number must only grow, which
 * regenerating from the revocation rows alone cannot promise). Re-signed after every revocation and, when
 * read, if it is older than a day or lists fewer certificates than are revoked (a revocation whose refresh
 * failed is published on the next read). Instances race safely: an update only applies if the CRL number is
 * still the one read; the loser re-reads the revocations and signs again with the next number.
 */
export class SandboxCrlPublisher {
  constructor(private readonly deps: { db: DataSource; clock: Clock; logger: Logger }) {}

  /** The current CRL of `issuerName`, refreshed first when stale. */
  async current(issuerName: string, issuer: CrlIssuer): Promise<PublishedCrl> {
    const row = await this.deps.db.getRepository(SandboxCaCrlEntity).findOneBy({ issuerName });
    const revoked = await this.deps.db.getRepository(SandboxCaIssuedEntity).countBy({ issuerName, status: 'revoked' });
    const fresh = row && row.entryCount >= revoked && this.deps.clock.nowMs() - row.thisUpdate.getTime() < CRL_REFRESH_AFTER_MS;
    return fresh ? toPublished(row) : this.refresh(issuerName, issuer);
  }

  /** Signs a new CRL listing every revoked certificate of `issuerName`, with the next CRL number. */
  async refresh(issuerName: string, issuer: CrlIssuer): Promise<PublishedCrl> {
    const crls = this.deps.db.getRepository(SandboxCaCrlEntity);
    for (let attempt = 0; attempt < 8; attempt++) {
      const current = await crls.findOneBy({ issuerName });
      const revoked = await this.deps.db.getRepository(SandboxCaIssuedEntity).find({
        where: { issuerName, status: 'revoked' },
        select: { serialHex: true, revokedAt: true, revocationReason: true },
      });
      // Whole seconds: CRL times are encoded to the second, and the stored row should say what the CRL says.
      const thisUpdate = new Date(Math.floor(this.deps.clock.nowMs() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_MS);
      const crlNumber = (current?.crlNumber ?? 0) + 1;
      const der = await buildCrl({
        issuer,
        crlNumber,
        thisUpdate,
        nextUpdate,
        entries: revoked.map((r) => ({ serialHex: r.serialHex, revokedAt: r.revokedAt ?? thisUpdate, reason: r.revocationReason ?? 'unspecified' })),
      });
      const values = { crlNumber, entryCount: revoked.length, thisUpdate, nextUpdate, derBase64: Buffer.from(der).toString('base64') };
      if (!current) {
        try {
          await crls.insert({ issuerName, ...values });
        } catch (err) {
          if (isUniqueViolation(err)) continue; // another instance published the first CRL meanwhile
          throw err;
        }
      } else {
        const result = await crls.update({ id: current.id, crlNumber: current.crlNumber }, values);
        if (result.affected !== 1) continue; // another refresh won: sign again over what is revoked now
      }
      this.deps.logger.info({ issuer: issuerName, crlNumber, entries: revoked.length }, 'sandbox CA published a CRL');
      return { der, crlNumber, thisUpdate, nextUpdate };
    }
    throw new Error(`sandbox CA ${issuerName}: the CRL kept changing under us; try again`);
  }
}

function toPublished(row: SandboxCaCrl): PublishedCrl {
  return { der: new Uint8Array(Buffer.from(row.derBase64, 'base64')), crlNumber: row.crlNumber, thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate };
}
