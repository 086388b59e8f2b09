/**
 * Validity stacking (docs/renewal.md): the renewed certificate starts now and ends at max(now, old notAfter) +
 * the years paid for, so renewing early loses no day; capped by the project's maximum (from now) and by the
 * issuing CA's own notAfter (a certificate cannot outlive its issuer). Times are whole seconds, as X.509 has them.
 */
export type ValidityCap = 'project' | 'ca';

export interface RenewedValidity {
  notBefore: Date;
  notAfter: Date;
  /** What the stacking would give without caps. */
  uncappedNotAfter: Date;
  cappedBy: ValidityCap | null;
}

export function addYears(d: Date, years: number): Date {
  const out = new Date(d.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

export function renewedValidity(input: { now: Date; oldNotAfter: Date; years: number; projectMaxYears: number; issuerNotAfter?: Date }): RenewedValidity {
  const notBefore = wholeSeconds(input.now.getTime());
  const uncapped = wholeSeconds(addYears(new Date(Math.max(input.now.getTime(), input.oldNotAfter.getTime())), input.years).getTime());
  let notAfter = uncapped;
  let cappedBy: ValidityCap | null = null;
  const projectCap = wholeSeconds(addYears(notBefore, input.projectMaxYears).getTime());
  if (projectCap < notAfter) {
    notAfter = projectCap;
    cappedBy = 'project';
  }
  if (input.issuerNotAfter && input.issuerNotAfter < notAfter) {
    notAfter = wholeSeconds(input.issuerNotAfter.getTime());
    cappedBy = 'ca';
  }
  return { notBefore, notAfter, uncappedNotAfter: uncapped, cappedBy };
}

/** What the pages say before anyone pays or renews when the cap bites. */
export function capNote(v: RenewedValidity, formatDate: (d: Date) => string): string | undefined {
  if (!v.cappedBy) return undefined;
  const why = v.cappedBy === 'ca' ? '签发机构（CA）证书的有效期' : '项目规定的最长有效期';
  return `受${why}限制，新证书有效期至 ${formatDate(v.notAfter)}（按所购年限本应至 ${formatDate(v.uncappedNotAfter)}）`;
}
