import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type ParsedCertificate } from '../../lib/pki/types';

/**
 * Projects (e.g. 梅州市住房公积金) in one place: which presented certificates belong to which project and
 * certificate type (so they can be priced), and each project's renewal window. Binding, ordering and renewal
 * all ask this module; nobody else keeps a copy of the window.
 */
const windowSchema = z.object({
  daysBefore: z.number().int().min(0).max(3650),
  daysAfter: z.number().int().min(0).max(3650),
}).strict();

const ruleSchema = z.object({
  certType: z.string().min(1).max(32),
  /** Every given field must match; a rule with no field would match everything and is refused. */
  match: z.object({
    issuerCn: z.string().min(1).optional(),
    policyOid: z.string().regex(/^\d+(\.\d+)+$/).optional(),
    subjectOu: z.string().min(1).optional(),
    subjectO: z.string().min(1).optional(),
  }).strict().refine((m) => Object.keys(m).length > 0, 'a rule needs at least one condition'),
}).strict();

const projectsSchema = z.object({
  /** BJCA's published practice: from 90 days before expiry to 365 days after. */
  defaultRenewalWindow: windowSchema.default({ daysBefore: 90, daysAfter: 365 }),
  /** The longest a renewed certificate may run from the day it is issued, in years (a project may set less). */
  defaultMaxValidityYears: z.number().int().min(1).max(10).default(5),
  projects: z.array(z.object({
    name: z.string().min(1).max(64),
    renewalWindow: windowSchema.optional(),
    maxValidityYears: z.number().int().min(1).max(10).optional(),
    rules: z.array(ruleSchema).min(1),
  }).strict()).min(1),
}).strict();

export type ProjectsFile = z.infer<typeof projectsSchema>;
export interface RenewalWindow { daysBefore: number; daysAfter: number }
export interface Classification { project: string; certType: string }
export type RenewalState = 'not-yet' | 'open' | 'closed';

const DAY_MS = 86_400_000;

export class ProjectRules {
  constructor(private readonly file: ProjectsFile) {}

  /** Reads and validates the projects file once at start; a bad file stops the start naming the problem. */
  static load(path: string): ProjectRules {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`CERT_PROJECTS_FILE: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = projectsSchema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`CERT_PROJECTS_FILE: ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return new ProjectRules(parsed.data);
  }

  /** The first rule whose every condition matches, in file order; null means an operator must decide. */
  classify(cert: Pick<ParsedCertificate, 'issuerDn' | 'policyOids' | 'subject'>): Classification | null {
    const issuerCn = /(?:^|,\s*)CN=([^,]+)/.exec(cert.issuerDn)?.[1]?.trim();
    for (const project of this.file.projects) {
      for (const rule of project.rules) {
        const m = rule.match;
        if (m.issuerCn !== undefined && m.issuerCn !== issuerCn) continue;
        if (m.policyOid !== undefined && !cert.policyOids.includes(m.policyOid)) continue;
        if (m.subjectOu !== undefined && m.subjectOu !== cert.subject.organizationalUnit) continue;
        if (m.subjectO !== undefined && m.subjectO !== cert.subject.organization) continue;
        return { project: project.name, certType: rule.certType };
      }
    }
    return null;
  }

  projectNames(): string[] {
    return this.file.projects.map((p) => p.name);
  }

  renewalWindowOf(project: string): RenewalWindow {
    return this.file.projects.find((p) => p.name === project)?.renewalWindow ?? this.file.defaultRenewalWindow;
  }

  /** Renewal never gives a certificate running longer than this from its issue (validity stacking's cap). */
  maxValidityYearsOf(project: string): number {
    return this.file.projects.find((p) => p.name === project)?.maxValidityYears ?? this.file.defaultMaxValidityYears;
  }

  /** When renewal opens and closes for a certificate of this project expiring at notAfter. */
  renewalPeriod(project: string, notAfter: Date): { opensAt: Date; closesAt: Date } {
    const w = this.renewalWindowOf(project);
    return { opensAt: new Date(notAfter.getTime() - w.daysBefore * DAY_MS), closesAt: new Date(notAfter.getTime() + w.daysAfter * DAY_MS) };
  }

  renewalState(project: string, notAfter: Date, now: Date): RenewalState {
    const { opensAt, closesAt } = this.renewalPeriod(project, notAfter);
    if (now < opensAt) return 'not-yet';
    return now <= closesAt ? 'open' : 'closed';
  }
}
