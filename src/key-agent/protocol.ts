import { type CertificateSubject, type CertificateUsage, type KeyAlgorithm } from '../lib/pki/types';

/**
 * Our key agent protocol: JSON-RPC 2.0 over HTTP (POST /rpc) or WebSocket (/ws) on 127.0.0.1.
 * docs/key-agent-protocol.md is the reference; this file is its machine-checked half. Binary values travel
 * as base64; certificates as PEM. The agent never returns or logs a PIN or a private key.
 */
export { KEY_AGENT_MIN_PROTOCOL_FOR_RENEWAL, KEY_AGENT_PROTOCOL_VERSION } from '../lib/key-agent-versions';
/** Named capabilities in `agent.hello` (a page may test one rather than a version). */
export const KEY_AGENT_FEATURES = ['key.remove', 'sm2.enveloped-key'] as const;
export const KEY_AGENT_DEFAULT_PORT = 17321;

export interface DeviceInfo {
  /** 介质编号: the serial printed on the U-KEY (PKCS#11: the token serial). */
  mediaSerial: string;
  label: string;
  backend: 'pkcs11' | 'soft';
  /** Algorithms keygen.csr accepts on this device. */
  algorithms: KeyAlgorithm[];
  pinLocked: boolean;
}

export interface TokenCertificate {
  /** Stable id of the certificate object on this device (PKCS#11: hex CKA_ID; soft: its own id). */
  certificateId: string;
  pem: string;
  serialHex: string;
  subjectDn: string;
  issuerDn: string;
  notBefore: string;
  notAfter: string;
  algorithm: KeyAlgorithm;
  usage: CertificateUsage;
  /** Installed by cert.install and not yet confirmed: the old certificate is still on the device. */
  pending: boolean;
}

export interface KeyAgentMethods {
  /** `version` is the agent's release (package.json); `protocol` the protocol version pages check (see above). */
  'agent.hello': { params: Record<string, never>; result: { name: string; version: string; protocol: number; features: string[]; backends: Array<'pkcs11' | 'soft'> } };
  'device.list': { params: Record<string, never>; result: { devices: DeviceInfo[] } };
  'cert.list': { params: { mediaSerial: string }; result: { certificates: TokenCertificate[] } };
  /** Checks the PIN (a wrong one costs a try, as on the token). */
  'pin.verify': { params: { mediaSerial: string; pin: string }; result: { ok: true } };
  /** Signs data with the key of a certificate; see src/lib/pki/types.ts for the signature convention. */
  'sign': {
    params: { mediaSerial: string; certificateId: string; pin: string; dataBase64: string };
    result: { signatureBase64: string; algorithm: KeyAlgorithm };
  };
  /** Generates a key pair inside the device and returns a PKCS#10 request signed by it. */
  'keygen.csr': {
    /**
     * `keyId` (protocol 2, optional): the id the new key gets, chosen by the caller (16–32 random bytes, hex), so that
     * a caller whose key is pulled before the answer still knows which key to `key.remove`. Taken: INVALID_PARAMS.
     */
    params: { mediaSerial: string; pin: string; algorithm: KeyAlgorithm; subject: CertificateSubject; keyId?: string };
    result: { keyId: string; csrPem: string };
  };
  /**
   * Writes a certificate for a key made by keygen.csr. The certificate it replaces stays on the device until
   * cert.confirm; installing the same certificate twice is a no-op (retries after a pulled key are safe).
   */
  'cert.install': {
    params: {
      mediaSerial: string; pin: string; keyId: string; certificatePem: string;
      /** SM2 pairs: the encryption certificate and its enveloped private key (base64). */
      encryptionPair?: { certificatePem: string; envelopedKeyBase64: string };
      /** Certificate this one replaces (kept until confirm). */
      replacesCertificateId?: string;
    };
    result: { certificateId: string; pending: boolean };
  };
  /** Makes an installed certificate final and removes the one it replaced (with its key). Idempotent. */
  'cert.confirm': { params: { mediaSerial: string; pin: string; certificateId: string }; result: { certificateId: string; removedCertificateId?: string } };
  /**
   * Removes a key pair (PKCS#11: the objects with that CKA_ID; soft: the key record) left by a keygen.csr whose
   * renewal was abandoned. Refused with KEY_IN_USE when any certificate on the device uses the key. A key that is
   * not there (already removed) answers `removed: false`: retries are safe. Since protocol 2.
   */
  'key.remove': { params: { mediaSerial: string; pin: string; keyId: string }; result: { keyId: string; removed: boolean } };
}

export type KeyAgentMethod = keyof KeyAgentMethods;

/** JSON-RPC error codes of the protocol (server errors live in -32000..-32099). */
export const KeyAgentErrorCode = {
  PIN_INCORRECT: -32001,
  PIN_LOCKED: -32002,
  DEVICE_REMOVED: -32003,
  CERT_NOT_FOUND: -32004,
  DEVICE_NOT_FOUND: -32005,
  ORIGIN_REFUSED: -32006,
  UNSUPPORTED_ALGORITHM: -32007,
  KEY_NOT_FOUND: -32008,
  /** key.remove: a certificate on the device uses this key. */
  KEY_IN_USE: -32009,
  INVALID_PARAMS: -32602,
  METHOD_NOT_FOUND: -32601,
  INTERNAL: -32603,
  /** JSON-RPC 2.0: the body is not JSON. */
  PARSE_ERROR: -32700,
  /** JSON-RPC 2.0: JSON, but not a request (also: body too large, wrong content type). */
  INVALID_REQUEST: -32600,
} as const;
export type KeyAgentErrorCode = (typeof KeyAgentErrorCode)[keyof typeof KeyAgentErrorCode];

/** `data` of a PIN_INCORRECT error: tries left before the token locks (null when the token does not say). */
export interface PinIncorrectData { triesLeft: number | null }

/** The name of an error code (`KeyAgentErrorCode`'s key), e.g. 'PIN_INCORRECT'. */
export type KeyAgentErrorName = keyof typeof KeyAgentErrorCode;

/** The methods that act on a device (they carry `mediaSerial`); a fault can be injected before, during or after them. */
export type DeviceMethod = 'cert.list' | 'pin.verify' | 'sign' | 'keygen.csr' | 'cert.install' | 'cert.confirm' | 'key.remove';
export const DEVICE_METHODS: readonly DeviceMethod[] = ['cert.list', 'pin.verify', 'sign', 'keygen.csr', 'cert.install', 'cert.confirm', 'key.remove'];

/**
 * When a soft token's simulated removal takes effect:
 * - 'now': it is gone at once;
 * - { before: m }: the next call of m finds it gone (nothing written);
 * - { during: m }: the next call of m does its work on the token (key generated, certificate written…),
 *   then the key is pulled before the answer: the caller gets DEVICE_REMOVED;
 * - { after: m }: the next call of m answers normally, then the key is gone.
 */
export type UnplugAt = 'now' | { before: DeviceMethod } | { during: DeviceMethod } | { after: DeviceMethod };

/**
 * Development methods (only when the agent runs with KEY_AGENT_DEV=true; otherwise METHOD_NOT_FOUND).
 * They act on soft tokens only: a fault switch for testing what happens when the user pulls the key out.
 */
export interface KeyAgentDevMethods {
  'dev.unplug': { params: { mediaSerial: string; at?: UnplugAt }; result: { ok: true } };
  'dev.plug': { params: { mediaSerial: string }; result: { ok: true } };
}

export type AnyKeyAgentMethods = KeyAgentMethods & KeyAgentDevMethods;
export type AnyKeyAgentMethod = keyof AnyKeyAgentMethods;
