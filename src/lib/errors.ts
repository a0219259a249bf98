/**
 * One error model for the whole service. Every failure is either retryable (the same call
 * may succeed later: network, timeouts, 408, 429, 5xx) or permanent (retrying cannot help:
 * other 4xx, bad input, a malformed partner response). The BullMQ adapter maps permanent
 * errors onto UnrecoverableError, so they fail at once instead of burning retries.
 *
 * Messages never carry PII or secrets: they name fields and codes, never values.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'REQUEST_INVALID'
  | 'REGISTRATION_IN_FLIGHT'
  | 'REGISTRATION_NOT_FOUND'
  | 'RETRY_REFUSED'
  | 'ESIGN_NETWORK'
  | 'ESIGN_TIMEOUT'
  | 'ESIGN_RATE_LIMITED'
  | 'ESIGN_SERVER_ERROR'
  | 'ESIGN_UNAUTHORIZED'
  | 'ESIGN_REJECTED'
  | 'ESIGN_BAD_RESPONSE'
  | 'UPLOAD_URL_EXPIRED'
  | 'UPLOAD_FORBIDDEN'
  | 'UPLOAD_FAILED'
  | 'IMAGE_INVALID'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_SOURCE_FAILED'
  | 'REINITIATION_LIMIT'
  | 'FORMAT_TOO_NEW'
  | 'FORMAT_UNSUPPORTED'
  | 'REDIS_NOT_DURABLE'
  | 'INTERNAL';

/** One entry of Esign's error envelope: `{ code: "1650", cause: "MISSING_CLIENT_ID" }`. */
export interface EsignErrorEntry {
  code: string;
  cause: string;
  entity?: string | undefined;
}

export interface WorkerErrorOptions {
  retryable: boolean;
  httpStatus?: number | undefined;
  esignErrors?: readonly EsignErrorEntry[] | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

export class WorkerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly httpStatus: number | undefined;
  readonly esignErrors: readonly EsignErrorEntry[];
  /** From a `Retry-After` header, in milliseconds, when the partner sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: WorkerErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'WorkerError';
    this.code = code;
    this.retryable = options.retryable;
    this.httpStatus = options.httpStatus;
    this.esignErrors = options.esignErrors ?? [];
    this.retryAfterMs = options.retryAfterMs;
  }

  /** A loggable summary: codes and statuses only, never payloads. */
  toJSON(): Record<string, unknown> {
    return {
      type: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      httpStatus: this.httpStatus,
      esignErrors: this.esignErrors,
      retryAfterMs: this.retryAfterMs,
    };
  }
}

export function permanent(
  code: ErrorCode,
  message: string,
  extra: Omit<WorkerErrorOptions, 'retryable'> = {},
): WorkerError {
  return new WorkerError(code, message, { ...extra, retryable: false });
}

export function retryable(
  code: ErrorCode,
  message: string,
  extra: Omit<WorkerErrorOptions, 'retryable'> = {},
): WorkerError {
  return new WorkerError(code, message, { ...extra, retryable: true });
}

export function isWorkerError(error: unknown): error is WorkerError {
  return error instanceof WorkerError;
}

/** Anything that is not a WorkerError is an unexpected bug or outage: retry it. */
export function toWorkerError(error: unknown): WorkerError {
  if (isWorkerError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return retryable('INTERNAL', message, { cause: error });
}

/** Thrown by request validation: every problem, each naming its field, no values. */
export class ValidationError extends WorkerError {
  readonly problems: readonly string[];

  constructor(what: string, problems: readonly string[]) {
    super('REQUEST_INVALID', `${what} is invalid:\n  - ${problems.join('\n  - ')}`, {
      retryable: false,
    });
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** zod issues → "path.to.field: message" lines. zod messages name types, not input values. */
export function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}
