import { generateKeyPairSync, randomUUID } from 'node:crypto';

/**
 * The sandbox FaceID's memory: one entry per DetectAuth. In-process like the sandbox WeChat (the embedded
 * default runs one instance); nothing here counts outside the sandbox.
 */
export type SandboxCheckStatus = 'STARTED' | 'PASSED' | 'FAILED';

export interface SandboxCheck {
  bizToken: string;
  ruleId: string;
  name: string;
  idCard: string;
  redirectUrl: string;
  extra: string;
  createdAtMs: number;
  expiresAtMs: number;
  status: SandboxCheckStatus;
  /** Whether Name and IdCard arrived encrypted (FaceID's 敏感数据加密), as our client sends them. */
  fieldsEncrypted: boolean;
}

/** FaceID's failure codes are many; the sandbox answers one plausible "not a live person" failure. */
export const SANDBOX_FAIL = { code: 1001, msg: '活体检测未通过（沙箱模拟）' };

export class SandboxFaceIdState {
  private readonly checks = new Map<string, SandboxCheck>();
  /** The sandbox's own stand-in for FaceID's encryption key pair (the client gets the public half). */
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
  /** How many GetDetectInfoEnhanced answers went out encrypted / in the clear (tests look). */
  readonly answers = { encrypted: 0, plain: 0 };

  constructor(
    readonly secretId: string,
    readonly secretKey: string,
    readonly ruleId: string,
    /** Where the sandbox's H5 page is reached by the browser (the site's public address + mount point). */
    readonly pageBase: string,
  ) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    this.publicKeyPem = pair.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    this.privateKeyPem = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  }

  create(input: Omit<SandboxCheck, 'bizToken' | 'status' | 'createdAtMs' | 'expiresAtMs'>, nowMs: number): SandboxCheck {
    const check: SandboxCheck = { ...input, bizToken: randomUUID().toUpperCase(), status: 'STARTED', createdAtMs: nowMs, expiresAtMs: nowMs + 7_200_000 };
    this.checks.set(check.bizToken, check);
    if (this.checks.size > 10_000) this.checks.delete(this.checks.keys().next().value!);
    return check;
  }

  get(bizToken: string): SandboxCheck | undefined {
    return this.checks.get(bizToken);
  }

  /** The tester's decision on the page; only a STARTED, unexpired check can be decided, once. */
  decide(bizToken: string, pass: boolean, nowMs: number): SandboxCheck | undefined {
    const check = this.checks.get(bizToken);
    if (!check || check.status !== 'STARTED' || nowMs > check.expiresAtMs) return undefined;
    check.status = pass ? 'PASSED' : 'FAILED';
    return check;
  }

  pageUrl(bizToken: string): string {
    return `${this.pageBase}/h5/${encodeURIComponent(bizToken)}`;
  }
}
