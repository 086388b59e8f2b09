import { type Clock, type Random } from '../../lib/clock';
import { type EInvoiceConfig } from './config';
import { NuonuoClient } from './nuonuo';
import { SandboxIssuer } from './sandbox';
import { type EInvoiceProvider } from './types';

/** The provider the settings select (config.einvoice): the Nuonuo client, or the sandbox issuer (shared when given). */
export function createEInvoiceProvider(config: EInvoiceConfig, opts: { clock: Clock; random: Random; fetch?: typeof fetch; sandbox?: SandboxIssuer }): { provider: EInvoiceProvider; sandbox?: SandboxIssuer } {
  if (config.mode === 'nuonuo') {
    const token = config.accessToken;
    return {
      provider: new NuonuoClient({
        url: config.url, appKey: config.appKey, appSecret: config.appSecret, accessToken: async () => token, seller: config.seller, clerk: config.clerk,
        ...(config.extensionNumber ? { extensionNumber: config.extensionNumber } : {}), clock: opts.clock, random: opts.random, ...(opts.fetch ? { fetch: opts.fetch } : {}),
      }),
    };
  }
  const sandbox = opts.sandbox ?? new SandboxIssuer({ seller: config.seller, clerk: config.clerk, clock: opts.clock, random: opts.random, delayMs: config.delayMs, failureRate: config.failureRate });
  return { provider: sandbox, sandbox };
}
