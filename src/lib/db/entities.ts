import { BindingCodeEntity, CertificateBindingEntity } from '../../modules/binding/entities';
import { CertificateEntity, CertificateReviewEntity } from '../../modules/certificates/entities';
import { FollowerEntity } from '../../modules/followers/entities';
import { LegacyBindingEntity } from '../../modules/legacy-bindings/entities';
import { SandboxCaAuthorityEntity, SandboxCaIssuedEntity } from '../../providers/ca/entities';

/** Every entity schema; modules add theirs here. */
export const entities = [FollowerEntity, CertificateEntity, CertificateReviewEntity, CertificateBindingEntity, BindingCodeEntity, LegacyBindingEntity, SandboxCaAuthorityEntity, SandboxCaIssuedEntity];
