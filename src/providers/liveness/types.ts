/**
 * Handler liveness behind one interface. Only text results cross it: no frames, no video, no images.
 * The redirect back from the provider carries nothing we trust; `verify` asks the provider itself.
 */
export interface LivenessStartInput {
  /** As on the ID card (validated and normalized by the caller). */
  name: string;
  /** 18 characters, check digit already verified (src/lib/pii/id-number.ts). */
  idNumber: string;
  /** Where the provider sends the browser when the check ends (our callback page; absolute URL). */
  redirectUrl: string;
  /** Our own reference (an attempt id), echoed back in the result's Extra; ≤ 1000 chars, no PII. */
  reference: string;
}

export interface LivenessSession {
  /** The provider's H5 page: send the browser there. */
  url: string;
  /** The provider's id of this check (FaceID BizToken); store it with the attempt. */
  bizToken: string;
  /** The Url/BizToken stop working after this (FaceID: 7,200 s). */
  expiresAt: Date;
}

/** What the provider says about a check, as fetched server-side. `errCode` null: not finished yet. */
export interface LivenessResult {
  passed: boolean;
  errCode: number | null;
  errMsg: string;
  name?: string;
  idNumber?: string;
  reference?: string;
}

export interface LivenessExpectation {
  name: string;
  idNumber: string;
  reference: string;
}

export type LivenessRefusal =
  /** The person has not finished (or not started) the check: ask again later, the token is not used up. */
  | 'PENDING'
  /** The provider says the check failed (errCode ≠ 0): a new attempt is needed. */
  | 'NOT_PASSED'
  /** Passed, but for another name or ID number than ours. */
  | 'MISMATCH'
  /** Passed, but Extra is not the reference we started it with. */
  | 'WRONG_REFERENCE'
  /** This BizToken was already turned into a verdict once. */
  | 'ALREADY_USED';

export type LivenessVerdict =
  | { passed: true; errCode: 0; errMsg: string }
  | { passed: false; refusal: LivenessRefusal; errCode: number | null; errMsg: string; userMessage: string };

export interface LivenessProvider {
  readonly mode: 'real' | 'sandbox';
  start(input: LivenessStartInput): Promise<LivenessSession>;
  /** The raw text result (no checks, does not use the token up). */
  result(bizToken: string): Promise<LivenessResult>;
  /**
   * The one call a callback page needs: fetches the result server-side, requires errCode 0, the same name,
   * ID number and reference, and uses the BizToken up (a second verify of it answers ALREADY_USED, even a
   * concurrent one). PENDING leaves the token usable.
   */
  verify(bizToken: string, expected: LivenessExpectation): Promise<LivenessVerdict>;
}
