import { StatementEntryEntity, TransferCodeEntity } from './modules/transfers/entities';
import { BindingCodeEntity, CertificateBindingEntity } from './modules/binding/entities';
import { CertificateEntity, CertificateReviewEntity } from './modules/certificates/entities';
import { FollowerEntity } from './modules/followers/entities';
import { HandlerAttemptEntity, VerifiedHandlerEntity } from './modules/handlers/entities';
import { DocumentAccessEntity, DocumentFileEntity, DocumentSubmissionEntity } from './modules/handler-documents/entities';
import { HandlerAuthorisationEntity } from './modules/handler-authorisation/entities';
import { LegacyBindingEntity } from './modules/legacy-bindings/entities';
import { OrderEntity, OrderLineEntity, PriceRuleEntity } from './modules/orders/entities';
import { RevocationEvidenceEntity } from './modules/certificates/revocation-entities';
import { OrderNoticeEntity } from './modules/payments/undelivered-notices';
import { SandboxCaAuthorityEntity, SandboxCaCrlEntity, SandboxCaIssuedEntity, SandboxKmcKeyEntity } from './providers/ca/entities';
import { WechatPayPlatformCertificateEntity } from './providers/wechatpay/entities';
import { WechatPayAttemptEntity } from './modules/payments/attempts';
import { NoticeOutboxEntity } from './modules/notices/outbox';
import { RefundEntity } from './modules/refunds/entities';
import { BillFindingEntity, BillRunEntity } from './modules/wechatpay-bills/entities';
import { invoiceEntities } from './modules/invoices/entities';
import { consoleEntities } from './modules/console/entities';
import { RenewalAuditEntity, RenewalEntity, RenewalIssuanceEntity } from './modules/renewals/entities';
import { StatementImportEntity } from './modules/statement-imports/entities';
import { StatementResolutionEntity } from './modules/transfer-exceptions/entities';
import { reminderEntities } from './modules/reminders/entities';

/**
 * Every entity schema; modules add theirs here. It lives beside the composition root because it names the
 * features and providers, which shared plumbing (src/lib) must not import: createDataSource takes it as an argument.
 */
export const entities = [FollowerEntity, CertificateEntity, CertificateReviewEntity, CertificateBindingEntity, BindingCodeEntity, LegacyBindingEntity, SandboxCaAuthorityEntity, SandboxCaIssuedEntity, SandboxCaCrlEntity, SandboxKmcKeyEntity, PriceRuleEntity, OrderEntity, OrderLineEntity, TransferCodeEntity, StatementEntryEntity, HandlerAttemptEntity, VerifiedHandlerEntity, HandlerAuthorisationEntity,
  DocumentSubmissionEntity, DocumentFileEntity, DocumentAccessEntity, WechatPayPlatformCertificateEntity, OrderNoticeEntity,
  WechatPayAttemptEntity, NoticeOutboxEntity, RefundEntity,
  BillRunEntity, BillFindingEntity, ...invoiceEntities,
  RenewalEntity, RenewalIssuanceEntity, RenewalAuditEntity, ...consoleEntities,
  StatementImportEntity, StatementResolutionEntity, RevocationEvidenceEntity, ...reminderEntities];
