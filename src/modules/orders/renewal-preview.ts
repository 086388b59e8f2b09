import { type EntityManager } from 'typeorm';
import { parseCertificate } from '../../lib/pki/certificate';
import { stackedValidity } from '../renewals/service';
import { BindingRepository } from '../binding/repository';
import { type Certificate } from '../certificates/entities';
import { certificateServiceFor } from '../certificates/service';
import { type HandlerRefusal, HandlerAuthorisationService } from '../handler-authorisation/service';
import { type VerifiedHandler } from '../handlers/entities';
import { HandlerRepository } from '../handlers/repository';
import { allowedYearsOf, NoPriceRuleError, PriceRuleRepository } from './price-rules';
import { OrderRepository } from './repository';
import { openOrderError, type OrderDeps, type OrderRefusal, refusalFor } from './service';

/** One line of the 续期缴费 page; `refusal` null means it can be ordered now at unitPriceFen × years. */
export interface RenewalOption {
  certificate: Certificate;
  opensAt: Date;
  closesAt: Date;
  unitPriceFen: number | null;
  allowedYears: number[];
  openOrderNo: string | null;
  refusal: OrderRefusal | HandlerRefusal | 'no-price-rule' | 'open-order' | null;
  userMessage: string | null;
  /** Orderable, but the handler's authorisation goes to an operator first (经办人授权): what to tell them. */
  note?: string;
  /** Validity stacking is capped (project maximum or the issuing CA's own validity) for some term offered: said before payment. */
  capNote?: string;
}

/** The 续期缴费 page's preview: reads only, and decides nothing (OrderService.createOrder checks everything again). */
export class RenewalPreview {
  private readonly orders = new OrderRepository();
  private readonly prices = new PriceRuleRepository();
  private readonly bindings = new BindingRepository();
  private readonly handlers = new HandlerRepository();
  private readonly authorisation: HandlerAuthorisationService;

  constructor(private readonly deps: OrderDeps) {
    this.authorisation = new HandlerAuthorisationService(deps);
  }

  /**
   * What the 续期缴费 page offers: every certificate bound to the handler, with whether it can be ordered now,
   * the price and terms when it can, and the open order holding it (by number when it is this handler's).
   * The same checks as createOrder, which still decides: this is for display only.
   */
  async renewalOptions(openid: string, at: Date): Promise<RenewalOption[]> {
    const em = this.deps.db.manager;
    const sandbox = this.deps.config.sandbox;
    const rules = certificateServiceFor(this.deps).rules;
    const mine = await this.bindings.certificatesOf(em, openid, { includeSandbox: sandbox });
    const open = new Map((await this.orders.openOrdersOf(em, mine.map((m) => m.certificate.id))).map((o) => [o.certificateId, o.order]));
    const handler = await this.handlers.verifiedOf(em, openid);
    const options: RenewalOption[] = [];
    for (const { certificate } of mine) {
      const { opensAt, closesAt } = rules.renewalPeriod(certificate.project, certificate.notAfter);
      const base = { certificate, opensAt, closesAt, unitPriceFen: null, allowedYears: [], openOrderNo: null, refusal: null, userMessage: null };
      const held = open.get(certificate.id);
      const refused = refusalFor(rules, certificate, at);
      const rule = refused ? null : await this.prices.findInForce(em, certificate.project, certificate.certType, at);
      const authorised = refused || !rule || held ? null : await this.previewAuthorisation(em, handler, certificate);
      if (refused) options.push({ ...base, refusal: refused.reason, userMessage: refused.userMessage });
      else if (authorised?.kind === 'refused') options.push({ ...base, refusal: authorised.error.reason, userMessage: authorised.error.userMessage });
      else if (!rule) options.push({ ...base, refusal: 'no-price-rule', userMessage: new NoPriceRuleError(certificate.project, certificate.certType, at).userMessage });
      else if (held) {
        const err = openOrderError(certificate.id, held, openid);
        options.push({ ...base, unitPriceFen: rule.unitPriceFen, allowedYears: allowedYearsOf(rule), openOrderNo: err.orderNo, refusal: 'open-order', userMessage: err.userMessage });
      } else {
        const allowedYears = allowedYearsOf(rule);
        options.push({ ...base, unitPriceFen: rule.unitPriceFen, allowedYears, note: authorised?.kind === 'needs-review' ? authorised.message : undefined, capNote: await this.capNote(certificate, allowedYears, at) });
      }
    }
    return options;
  }

  /** When the longest term offered would be cut short: from which term on, and to which date (renewals/validity.ts). */
  private async capNote(certificate: Certificate, allowedYears: number[], at: Date): Promise<string | undefined> {
    const certificates = certificateServiceFor(this.deps);
    const parsed = parseCertificate(certificate.pem);
    for (const years of [...allowedYears].sort((a, b) => a - b)) {
      const v = await stackedValidity(certificates, parsed, certificate, years, at);
      if (v.cappedBy) return `续期 ${years} 年${years < Math.max(...allowedYears) ? '及以上' : ''}时，${v.capNote}`;
    }
    return undefined;
  }

  /** The page's view of 经办人授权 (createOrder decides); without a verified handler the page's guard sends them to the check. */
  private previewAuthorisation(em: EntityManager, handler: VerifiedHandler | null, certificate: Certificate) {
    return handler ? this.authorisation.preview(em, handler, certificate) : Promise.resolve(null);
  }
}
