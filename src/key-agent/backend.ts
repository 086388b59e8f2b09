import { type CertificateSubject, type KeyAlgorithm } from '../lib/pki/types';
import { type DeviceInfo, type TokenCertificate } from './protocol';

/**
 * One kind of token (files on disk, a PKCS#11 module, later an SKF DLL) behind the protocol. Methods throw
 * KeyAgentError with the protocol's codes. The dispatcher calls a device's methods one at a time, so a
 * backend need not guard against concurrent calls to the same device.
 */
export interface TokenBackend {
  readonly kind: DeviceInfo['backend'];
  listDevices(): Promise<DeviceInfo[]>;
  /**
   * Whether this backend serves the device: 'removed' means it knows the serial but the token is not in
   * (pulled out), so callers get DEVICE_REMOVED rather than DEVICE_NOT_FOUND.
   */
  locate(mediaSerial: string): Promise<'present' | 'removed' | 'absent'>;
  listCertificates(mediaSerial: string): Promise<TokenCertificate[]>;
  verifyPin(mediaSerial: string, pin: string): Promise<void>;
  sign(mediaSerial: string, pin: string, certificateId: string, data: Uint8Array): Promise<{ signature: Uint8Array; algorithm: KeyAlgorithm }>;
  /** `keyId`: the caller's choice (hex), else the backend picks one. */
  keygenCsr(mediaSerial: string, pin: string, algorithm: KeyAlgorithm, subject: CertificateSubject, keyId?: string): Promise<{ keyId: string; csrPem: string }>;
  installCertificate(mediaSerial: string, pin: string, install: InstallRequest): Promise<{ certificateId: string; pending: boolean }>;
  confirmCertificate(mediaSerial: string, pin: string, certificateId: string): Promise<{ certificateId: string; removedCertificateId?: string }>;
  /** Removes a key no certificate uses (KEY_IN_USE otherwise); false when it is not there. */
  removeKey(mediaSerial: string, pin: string, keyId: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface InstallRequest {
  keyId: string;
  certificatePem: string;
  encryptionPair?: { certificatePem: string; envelopedKeyBase64: string };
  replacesCertificateId?: string;
}
