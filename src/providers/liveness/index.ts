import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { type KeyValueStore } from '../../lib/store/types';
import { type LivenessConfig } from './config';
import { TencentFaceIdProvider } from './real';
import { SandboxFaceIdState } from './sandbox-state';
import { type LivenessProvider } from './types';

/**
 * One client for both modes: in sandbox mode it talks to the sandbox FaceID mounted in this process (over
 * loopback HTTP, signed), so the sandbox exercises the real client code.
 */
export function createLivenessProvider(config: LivenessConfig, deps: { store: KeyValueStore; logger: Logger; clock: Clock; sandbox?: SandboxFaceIdState }): LivenessProvider {
  return new TencentFaceIdProvider(config, { ...deps, encryptionPublicKeyPem: config.mode === 'sandbox' ? deps.sandbox?.publicKeyPem : undefined });
}

/** The sandbox FaceID's state; its page is reached at publicBaseUrl/sandbox/faceid/h5/<BizToken>. */
export function createSandboxFaceIdState(config: LivenessConfig, publicBaseUrl: string): SandboxFaceIdState {
  return new SandboxFaceIdState(config.secretId, config.secretKey, config.ruleId, `${publicBaseUrl}/sandbox/faceid`);
}
