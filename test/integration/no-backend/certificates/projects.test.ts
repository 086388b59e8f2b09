import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectRules } from '../../../../src/modules/certificates/projects';

const file = (content: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), 'projects-')), 'projects.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const rules = ProjectRules.load(join(__dirname, '../../../../config/projects.json'));
const presented = (over: { ou?: string; policy?: string[]; issuer?: string } = {}) => ({
  issuerDn: over.issuer ?? 'CN=数安 Sandbox Issuing CA (RSA), O=数安 CA 管家, C=CN',
  policyOids: over.policy ?? ['1.3.6.1.4.1.59999.1.1'],
  subject: { organizationalUnit: over.ou ?? '梅州市住房公积金', organization: '梅州测试' },
});

describe('project rules', () => {
  it('When OU and policy match a rule, then the certificate gets that project and type', () => {
    expect(rules.classify(presented())).toEqual({ project: '梅州市住房公积金', certType: '机构证书' });
    expect(rules.classify(presented({ policy: ['2.5.29.32.0', '1.3.6.1.4.1.59999.1.2'] }))).toEqual({ project: '梅州市住房公积金', certType: '个人证书' });
  });

  it('When no rule matches (other project, unknown policy), then there is no classification', () => {
    expect(rules.classify(presented({ ou: '其他项目' }))).toBeNull();
    expect(rules.classify(presented({ policy: ['1.3.6.1.4.1.59999.1.3'] }))).toBeNull();
  });

  it('When a rule names the issuer CN, then only that issuer matches', () => {
    const r = ProjectRules.load(file({ projects: [{ name: 'P', rules: [{ certType: 'T', match: { issuerCn: 'GDCA TrustAUTH R5 ROOT' } }] }] }));
    expect(r.classify(presented({ issuer: 'CN=GDCA TrustAUTH R5 ROOT, O=GDCA, C=CN' }))).toEqual({ project: 'P', certType: 'T' });
    expect(r.classify(presented())).toBeNull();
  });

  it('When the file is missing, not JSON, or has a rule without conditions, then loading stops naming CERT_PROJECTS_FILE and the problem', () => {
    expect(() => ProjectRules.load('/nonexistent/projects.json')).toThrow(/CERT_PROJECTS_FILE: cannot read/);
    expect(() => ProjectRules.load(file('{nope'))).toThrow(/CERT_PROJECTS_FILE: cannot read/);
    expect(() => ProjectRules.load(file({ projects: [{ name: 'P', rules: [{ certType: 'T', match: {} }] }] }))).toThrow(/at least one condition/);
  });

  it('When a project has its own renewal window, then it is used instead of the default', () => {
    const r = ProjectRules.load(file({ projects: [{ name: 'P', renewalWindow: { daysBefore: 30, daysAfter: 0 }, rules: [{ certType: 'T', match: { subjectO: 'x' } }] }] }));
    const notAfter = new Date('2027-01-31T00:00:00Z');
    expect(r.renewalPeriod('P', notAfter).opensAt.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(r.renewalWindowOf('other')).toEqual({ daysBefore: 90, daysAfter: 365 });
  });
});
