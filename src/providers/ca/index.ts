import { type DataSource } from 'typeorm';
import { type AppConfig } from '../../config';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { RaCertificateAuthority } from './ra';
import { BuiltInCa } from './sandbox';
import { type CertificateAuthority } from './types';

export { BuiltInCa } from './sandbox';
export { RaCertificateAuthority } from './ra';
export * from './types';

/**
 * The CA for this configuration. 'ra': the RA client, which is not contacted here (a CA outage must not stop
 * the app from starting; calls fail with CaError 'unavailable' instead). 'sandbox': the built-in CA, whose
 * hierarchy is created on first start or loaded (and its key checked) before this resolves.
 */
export async function createCertificateAuthority(deps: { config: AppConfig; db: DataSource; clock: Clock; logger: Logger }): Promise<CertificateAuthority> {
  const { ca } = deps.config;
  if (ca.mode === 'ra') {
    if (!ca.ra) throw new Error('CA_RA_BASE_URL, CA_RA_CLIENT_ID, CA_RA_SECRET: required in RA mode');
    return new RaCertificateAuthority({
      ...ca.ra,
      trustedRootsFile: ca.trustedRootsFile,
      clock: deps.clock,
      logger: deps.logger.child({ component: 'ca-ra' }),
      requireHttps: deps.config.isProduction,
    });
  }
  return new BuiltInCa({ db: deps.db, clock: deps.clock, logger: deps.logger.child({ component: 'sandbox-ca' }), keyEncryptionKey: ca.keyEncryptionKey, crlBaseUrl: `${deps.config.publicBaseUrl}/crl` }).ensure();
}
