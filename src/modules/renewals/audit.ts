import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { type Logger } from '../../lib/logger';
import { chinaDay } from '../../lib/store/china-day';
import { type RenewalAudit, RenewalAuditEntity } from './entities';

export const GENESIS_HASH = '0'.repeat(64);
const APPEND_TRIES = 50;

export interface AuditEntry { renewalId: number | null; step: string; detail: Record<string, unknown> }
export interface SignedHead { seq: number; hash: string; at: string; signatureBase64: string; publicKeyBase64: string }
export type ChainCheck = { ok: true; count: number; head: { seq: number; hash: string } | null } | { ok: false; count: number; seq: number; reason: string };

/** JSON with sorted keys, so the same detail always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The entry's hash covers every column but its id, and the previous entry's hash: change one row, every later hash breaks. */
export function entryHash(e: Pick<RenewalAudit, 'seq' | 'renewalId' | 'step' | 'detail' | 'at' | 'prevHash'>): string {
  return createHash('sha256').update([e.prevHash, e.seq, e.renewalId ?? '', e.step, e.detail, e.at.toISOString()].join('\n')).digest('hex');
}

/** Checks rows in seq order: 1, 2, 3…, each prevHash the hash before, each hash recomputed. */
export function verifyChainRows(rows: RenewalAudit[]): ChainCheck {
  let prev = GENESIS_HASH;
  for (const [i, row] of rows.entries()) {
    if (row.seq !== i + 1) return { ok: false, count: rows.length, seq: row.seq, reason: `expected seq ${i + 1}, found ${row.seq} (an entry was removed)` };
    if (row.prevHash !== prev) return { ok: false, count: rows.length, seq: row.seq, reason: 'prev_hash is not the previous entry\'s hash' };
    if (entryHash(row) !== row.hash) return { ok: false, count: rows.length, seq: row.seq, reason: 'hash does not match the entry (the row was altered)' };
    prev = row.hash;
  }
  const last = rows[rows.length - 1];
  return { ok: true, count: rows.length, head: last ? { seq: last.seq, hash: last.hash } : null };
}

/** Ed25519 key from its 32-byte seed (PKCS#8 wrapping of RFC 8410). */
export function auditKeyFromSeed(seedBase64: string): { privateKey: KeyObject; publicKey: KeyObject } {
  const seed = Buffer.from(seedBase64, 'base64');
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

const headMessage = (h: Pick<SignedHead, 'seq' | 'hash' | 'at'>) => Buffer.from(`CAM-RENEWAL-AUDIT-HEAD/1\n${h.seq}\n${h.hash}\n${h.at}`, 'utf8');

export function verifySignedHead(head: SignedHead): boolean {
  const key = createPublicKey({ key: Buffer.from(head.publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
  return edVerify(null, headMessage(head), key, Buffer.from(head.signatureBase64, 'base64'));
}

/**
 * The renewal audit log: append-only, each entry holding the previous entry's hash. An entry is appended in a
 * short transaction of its own, after the step it records, so one renewal's work never waits for another's
 * (only the append itself is ordered: two appenders racing for the same seq retry, the unique seq decides).
 * The head (latest seq + hash) is signed with the audit key and exported daily to a folder outside the
 * database: whoever can write the database can recompute the hashes, but not the exported, signed heads.
 */
export class RenewalAuditLog {
  constructor(private readonly deps: { db: DataSource; clock: Clock; logger: Logger }) {}

  async append(entry: AuditEntry): Promise<RenewalAudit> {
    const detail = canonicalJson(entry.detail);
    for (let attempt = 0; attempt < APPEND_TRIES; attempt++) {
      try {
        return await inTransaction(this.deps.db, async (em) => {
          const last = await em.getRepository(RenewalAuditEntity).find({ order: { seq: 'DESC' }, take: 1 });
          const at = new Date(this.deps.clock.nowMs());
          const row = { seq: (last[0]?.seq ?? 0) + 1, renewalId: entry.renewalId, step: entry.step.slice(0, 32), detail, at, prevHash: last[0]?.hash ?? GENESIS_HASH } as RenewalAudit;
          row.hash = entryHash(row);
          const result = await em.insert(RenewalAuditEntity, row);
          return { ...row, id: Number(result.identifiers[0].id) };
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 4 * (attempt + 1)));
      }
    }
    throw new Error(`renewal audit: could not append ${entry.step} after ${APPEND_TRIES} tries`);
  }

  /** Never fails the caller's step: the step happened; a lost entry is logged loudly for the operators. */
  async record(entry: AuditEntry): Promise<void> {
    await this.append(entry).catch((err) => this.deps.logger.error({ err, renewalId: entry.renewalId, step: entry.step }, 'renewal audit entry NOT written'));
  }

  async rows(): Promise<RenewalAudit[]> {
    return this.deps.db.getRepository(RenewalAuditEntity).find({ order: { seq: 'ASC' } });
  }

  forRenewal(renewalId: number): Promise<RenewalAudit[]> {
    return this.deps.db.getRepository(RenewalAuditEntity).find({ where: { renewalId }, order: { seq: 'ASC' } });
  }

  /** The whole chain, then every exported head in `exportDir` against it (a rewritten history no longer matches them). */
  async verify(exportDir?: string, auditKeySeed?: string): Promise<ChainCheck & { headsChecked: number }> {
    const rows = await this.rows();
    const chain = verifyChainRows(rows);
    if (!chain.ok || !exportDir) return { ...chain, headsChecked: 0 };
    const ours = auditKeySeed ? auditKeyFromSeed(auditKeySeed).publicKey.export({ type: 'spki', format: 'der' }).toString('base64') : undefined;
    let headsChecked = 0;
    for (const head of readHeads(exportDir)) {
      if (!verifySignedHead(head) || (ours && head.publicKeyBase64 !== ours)) return { ok: false, count: rows.length, seq: head.seq, reason: `exported head ${head.seq} is not signed by the audit key`, headsChecked };
      const row = rows[head.seq - 1];
      if (!row || row.hash !== head.hash) return { ok: false, count: rows.length, seq: head.seq, reason: `entry ${head.seq} differs from the head exported at ${head.at} (history was rewritten)`, headsChecked };
      headsChecked++;
    }
    return { ...chain, headsChecked };
  }

  async signedHead(auditKeySeed: string): Promise<SignedHead | null> {
    const last = await this.deps.db.getRepository(RenewalAuditEntity).find({ order: { seq: 'DESC' }, take: 1 });
    if (!last[0]) return null;
    const { privateKey, publicKey } = auditKeyFromSeed(auditKeySeed);
    const head = { seq: last[0].seq, hash: last[0].hash, at: new Date(this.deps.clock.nowMs()).toISOString() };
    return { ...head, signatureBase64: edSign(null, headMessage(head), privateKey).toString('base64'), publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
  }

  /** Writes today's signed head (China day) as `renewal-audit-<day>.json`; a later export the same day replaces it. */
  async exportHead(exportDir: string, auditKeySeed: string): Promise<string | null> {
    const head = await this.signedHead(auditKeySeed);
    if (!head) return null;
    mkdirSync(exportDir, { recursive: true });
    const file = join(exportDir, `renewal-audit-${chinaDay(this.deps.clock.nowMs())}.json`);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(head, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    return file;
  }
}

function readHeads(dir: string): SignedHead[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^renewal-audit-[\d-]+\.json$/.test(n)).sort();
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as SignedHead);
}
