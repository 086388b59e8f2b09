import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { NotFoundError } from '../../lib/errors';
import { type InvoiceFileKind, type InvoiceFileRow, type InvoiceRequestRow } from './entities';
import { LINK_TOKEN, linkTokenHash, newLinkToken, sealLinkToken } from './links';
import { InvoiceRepository } from './repository';

export interface OpenedLink {
  request: InvoiceRequestRow;
  files: Omit<InvoiceFileRow, 'bytes'>[];
}

/**
 * What /i/<token> may see: an issued (or later reversed) invoice whose link is live. Anything else (a malformed,
 * unknown or revoked token) is null, and the route answers the same plain 404 for all of them.
 */
export class InvoiceLinks {
  private readonly repo = new InvoiceRepository();

  constructor(private readonly deps: Pick<Deps, 'db' | 'pii' | 'random' | 'clock' | 'logger'>) {}

  async open(token: string): Promise<OpenedLink | null> {
    if (!LINK_TOKEN.test(token)) return null;
    const em = this.deps.db.manager;
    const link = await this.repo.linkByHash(em, linkTokenHash(token));
    if (!link || link.revokedAt) return null;
    const request = await this.repo.byId(em, link.requestId);
    if (!request?.issuedAt) return null;
    await this.repo.countOpen(em, link.id);
    return { request, files: await this.repo.filesOf(em, request.id) };
  }

  async file(token: string, kind: InvoiceFileKind): Promise<{ request: InvoiceRequestRow; file: InvoiceFileRow } | null> {
    const opened = await this.open(token);
    if (!opened) return null;
    const file = await this.repo.file(this.deps.db.manager, opened.request.id, kind);
    return file ? { request: opened.request, file } : null;
  }

  /** An operator revokes every live link of a request; with `reissue` a new one replaces them (the owner sees it). */
  async revoke(acceptanceNo: string, by: string, reissue = false): Promise<{ revoked: number; reissued: boolean }> {
    const at = new Date(this.deps.clock.nowMs());
    return inTransaction(this.deps.db, async (tx) => {
      const request = await this.repo.byAcceptanceNo(tx, acceptanceNo);
      if (!request) throw new NotFoundError('未找到该开票申请', `no invoice request ${acceptanceNo}`);
      const revoked = await this.repo.revokeLinks(tx, request.id, by, at);
      if (reissue && request.issuedAt) {
        const token = newLinkToken(this.deps.random);
        await this.repo.insertLink(tx, { requestId: request.id, tokenHash: linkTokenHash(token), tokenSealed: sealLinkToken(this.deps.pii, token), revokedAt: null, revokedBy: null, opens: 0, createdAt: at });
      }
      this.deps.logger.info({ acceptanceNo, revoked, reissue, by }, 'invoice links revoked');
      return { revoked, reissued: reissue && !!request.issuedAt };
    });
  }
}
