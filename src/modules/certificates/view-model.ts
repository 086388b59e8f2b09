import { type CertificateBinding } from '../binding/entities';
import { type Certificate } from './entities';
import { type ProjectRules, type RenewalState } from './projects';

const DAY_MS = 86_400_000;
/** 即将到期 from 30 days before expiry. */
export const EXPIRING_SOON_DAYS = 30;

const shanghaiDate = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
const shanghaiDateTime = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** 2026-11-25 as people in China read it, whatever the server's zone. */
export const formatDate = (d: Date) => shanghaiDate.format(d);
export const formatDateTime = (d: Date) => shanghaiDateTime.format(d).replace(',', '');

export type BadgeTone = 'ok' | 'warn' | 'expired' | 'revoked';
export interface Badge { label: string; tone: BadgeTone }

/** Whole days until expiry, counted from now (negative once expired). */
export function daysLeft(notAfter: Date, now: Date): number {
  return Math.ceil((notAfter.getTime() - now.getTime()) / DAY_MS);
}

export function badgeOf(cert: Pick<Certificate, 'status' | 'notAfter'>, now: Date): Badge {
  if (cert.status === 'revoked') return { label: '已吊销', tone: 'revoked' };
  // Renewed: the new certificate is the one in use (its own card shows its validity).
  if (cert.status === 'superseded') return { label: '已更新', tone: 'expired' };
  if (cert.notAfter <= now) return { label: '已过期', tone: 'expired' };
  if (daysLeft(cert.notAfter, now) <= EXPIRING_SOON_DAYS) return { label: '即将到期', tone: 'warn' };
  return { label: '有效', tone: 'ok' };
}

/** Only the last 4 characters of the 介质编号 are shown: they are what binding asks for, nothing more. */
export function maskMediaSerial(serial: string | null): string {
  if (!serial) return '—';
  return `****${serial.slice(-4)}`;
}

export interface CertificateCard {
  id: number;
  organization: string;
  certType: string;
  project: string;
  maskedMedia: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  badge: Badge;
  renewal: { state: RenewalState; opensAt: string; closesAt: string; daysToDeadline: number };
}

export function toCard(cert: Certificate, rules: ProjectRules, now: Date): CertificateCard {
  const period = rules.renewalPeriod(cert.project, cert.notAfter);
  return {
    id: cert.id,
    organization: cert.organization ?? cert.commonName ?? '—',
    certType: cert.certType,
    project: cert.project,
    maskedMedia: maskMediaSerial(cert.mediaSerial),
    notBefore: formatDate(cert.notBefore),
    notAfter: formatDate(cert.notAfter),
    daysLeft: daysLeft(cert.notAfter, now),
    badge: badgeOf(cert, now),
    // A revoked or replaced certificate is not renewed: its successor (or a new application) is.
    renewal: {
      state: cert.status === 'valid' ? rules.renewalState(cert.project, cert.notAfter, now) : 'closed',
      opensAt: formatDate(period.opensAt),
      closesAt: formatDate(period.closesAt),
      daysToDeadline: daysLeft(period.closesAt, now),
    },
  };
}

export interface CertificateDetail extends CertificateCard {
  serialHex: string;
  issuerDn: string;
  subjectDn: string;
  creditCode: string | null;
  algorithm: string;
  fingerprint: string;
  /** The fingerprint in 4 lines of 8 pairs: a phone wraps it there, never inside a pair. */
  fingerprintLines: string[];
  boundAt: string;
  statusNote: string | null;
}

const ALGORITHM_LABEL: Record<string, string> = { 'RSA-2048': 'RSA 2048', 'ECDSA-P256': 'ECDSA P-256', SM2: 'SM2（国密）' };

export function toDetail(cert: Certificate, binding: CertificateBinding, rules: ProjectRules, now: Date): CertificateDetail {
  const pairs = cert.fingerprintSha256.toUpperCase().match(/.{2}/g) ?? [];
  return {
    ...toCard(cert, rules, now),
    serialHex: cert.serialHex.toUpperCase(),
    issuerDn: cert.issuerDn,
    subjectDn: cert.subjectDn,
    creditCode: cert.creditCode,
    algorithm: ALGORITHM_LABEL[cert.algorithm] ?? cert.algorithm,
    // Colon pairs, as certificate viewers (Windows, OpenSSL) print it, so a user can compare.
    fingerprint: pairs.join(':'),
    fingerprintLines: [0, 8, 16, 24].map((i) => pairs.slice(i, i + 8).join(':')).filter(Boolean),
    boundAt: formatDateTime(binding.boundAt),
    statusNote: cert.status === 'superseded' ? '该证书已续期，新证书已生效' : null,
  };
}
