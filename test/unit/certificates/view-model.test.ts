import { join } from 'node:path';
import { type Certificate } from '../../../src/modules/certificates/entities';
import { ProjectRules } from '../../../src/modules/certificates/projects';
import { type CertificateBinding } from '../../../src/modules/binding/entities';
import { badgeOf, daysLeft, formatDate, maskMediaSerial, toCard, toDetail } from '../../../src/modules/certificates/view-model';

const DAY = 86_400_000;
const now = new Date('2026-11-25T04:00:00Z');
const rules = ProjectRules.load(join(__dirname, '../../../config/projects.json'));
const cert = (over: Partial<Certificate> = {}) => ({
  id: 1, status: 'valid', notBefore: new Date(now.getTime() - 300 * DAY), notAfter: new Date(now.getTime() + 60 * DAY),
  organization: '梅州测试', commonName: null, certType: '机构证书', project: '梅州市住房公积金', mediaSerial: '9000000000001234', ...over,
}) as Certificate;

describe('certificate view model', () => {
  it.each([
    [31, '有效'], [30, '即将到期'], [1, '即将到期'], [0, '已过期'], [-10, '已过期'],
  ])('When %i days are left, then the badge says %s', (days, label) => {
    expect(badgeOf(cert({ notAfter: new Date(now.getTime() + days * DAY) }), now).label).toBe(label);
  });

  it('When a certificate is revoked, then the badge says 已吊销 whatever its dates', () => {
    expect(badgeOf(cert({ status: 'revoked' }), now)).toEqual({ label: '已吊销', tone: 'revoked' });
  });

  it('When a date is late in the UTC evening, then it is shown as the next day in Asia/Shanghai', () => {
    expect(formatDate(new Date('2026-12-31T16:30:00Z'))).toBe('2027-01-01');
    expect(daysLeft(new Date(now.getTime() + 1.5 * DAY), now)).toBe(2);
  });

  it('When the media serial is shown, then only its last 4 characters are', () => {
    expect(maskMediaSerial('9000000000001234')).toBe('****1234');
    expect(maskMediaSerial(null)).toBe('—');
  });

  it('When a certificate is 91 or 90 days from expiry, or 365 or 366 days past it, then the renewal window (90 before, 365 after) is closed or open', () => {
    const state = (offsetDays: number) => toCard(cert({ notAfter: new Date(now.getTime() + offsetDays * DAY) }), rules, now).renewal.state;
    expect([state(91), state(90), state(-365), state(-366)]).toEqual(['not-yet', 'open', 'open', 'closed']);
    expect(toCard(cert({ status: 'revoked', notAfter: new Date(now.getTime() + 10 * DAY) }), rules, now).renewal.state).toBe('closed');
  });

  it('When the detail is shown, then the fingerprint is in 4 lines of 8 colon pairs and the bound time is in Asia/Shanghai', () => {
    const fingerprintSha256 = 'ab'.repeat(8) + 'cd'.repeat(8) + 'ef'.repeat(8) + '01'.repeat(8);
    const binding = { boundAt: new Date('2026-11-25T16:05:00Z') } as CertificateBinding;
    const detail = toDetail(cert({ fingerprintSha256, serialHex: '00ab', issuerDn: 'CN=x', subjectDn: 'CN=y', creditCode: null, algorithm: 'SM2' }), binding, rules, now);
    expect(detail.fingerprintLines).toEqual(['AB', 'CD', 'EF', '01'].map((p) => Array(8).fill(p).join(':')));
    expect(detail.fingerprint).toBe(detail.fingerprintLines.join(':'));
    expect(detail.boundAt).toBe('2026-11-26 00:05');
    expect(detail.algorithm).toBe('SM2（国密）');
    expect(detail.serialHex).toBe('00AB');
  });
});
