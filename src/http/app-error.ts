import { type ErrorCode, errorCodes } from './error-codes';

export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * The typed error that domain code throws. `detail` and `extensions` are sent to the client, so they
 * must never carry personal data.
 */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.status = errorCodes[code].status;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
