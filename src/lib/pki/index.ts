/** The PKI toolkit in one import: keys, signatures, CSRs, certificates, chains. See types.ts for the conventions. */
export * from './types';
export { OID } from './oids';
export { generateSoftKeyPair, signWithSoftKey, createSoftSigner, type SoftKeyPair } from './soft-keys';
export { algorithmOfSpki, describeSpki, verifySignature, verifySignedData } from './signature';
export { buildCsr, parseCsr, type ParsedCsr } from './csr';
export { subjectToName, nameToSubject, nameToString } from './names';
export { parseCertificate, splitPemBundle, toPem, pemToDer } from './certificate';
export { verifyChain, type ChainResult, type ChainFailure } from './chain';
export { buildCertificate, keyIdentifier, type BuildCertificateInput, type CertificateSigner } from './x509-builder';
export { TrustStore, loadTrustStore, classifyBundle } from './trust-store';
