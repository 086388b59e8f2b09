/**
 * The error taxonomy. Each error carries a message for the user (Chinese, safe to show) and a detail for
 * operators and logs (precise, never shown). One middleware renders them; nothing else builds error pages.
 */
export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  constructor(readonly userMessage: string, readonly detail?: string, options?: { cause?: unknown }) {
    super(detail ?? userMessage, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  readonly status = 400;
  readonly code = 'VALIDATION_FAILED';
}
export class UnauthorizedError extends AppError {
  readonly status = 401;
  readonly code = 'UNAUTHORIZED';
}
export class ForbiddenError extends AppError {
  readonly status = 403;
  readonly code = 'FORBIDDEN';
}
export class NotFoundError extends AppError {
  readonly status = 404;
  readonly code = 'NOT_FOUND';
}
export class ConflictError extends AppError {
  readonly status = 409;
  readonly code = 'CONFLICT';
}
export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
}
export class TooManyRequestsError extends AppError {
  readonly status = 429;
  readonly code = 'TOO_MANY_REQUESTS';
}
/** A party we depend on (WeChat, a provider) failed or refused; `upstreamCode` keeps its own code. */
export class UpstreamError extends AppError {
  readonly status = 502;
  readonly code = 'UPSTREAM_FAILED';
  constructor(userMessage: string, detail: string, readonly upstreamCode?: number | string, options?: { cause?: unknown }) {
    super(userMessage, detail, options);
  }
}
