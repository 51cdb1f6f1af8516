import { AppError } from '../http/app-error';

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** The SQLSTATE or driver code; drizzle wraps the driver's error as `cause` (DrizzleQueryError). */
export function driverCodeOf(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A code for a record or a log line: the driver's or the app's, else the error's name; never a
 * message, which could quote a value.
 */
export function errorCodeOf(error: unknown): string {
  return driverCodeOf(error) ?? (error instanceof Error ? error.name : 'unknown');
}

const transactionConflictCodes = new Set(['40P01', '40001']);

/** A deadlock or serialization failure: the whole transaction can be tried again as it is. */
export function isTransactionConflict(error: unknown): boolean {
  const code = driverCodeOf(error);
  return code !== undefined && transactionConflictCodes.has(code);
}

/** A conflict or a lost connection: the same work is likely to succeed a little later. */
export function isTransientDatabaseError(error: unknown): boolean {
  const code = driverCodeOf(error);
  return code !== undefined && (transactionConflictCodes.has(code) || connectionErrorCodes.has(code));
}

/**
 * The one place where database errors become HTTP-facing errors, by SQLSTATE or driver code, never by
 * message text. Messages are not forwarded: a constraint message can quote the offending value.
 */
export function translateDatabaseError(error: unknown): AppError | undefined {
  const code = driverCodeOf(error);
  if (code === undefined) return undefined;
  if (connectionErrorCodes.has(code)) {
    return new AppError('database_unavailable', 'The database cannot be reached; retry shortly.');
  }
  if (transactionConflictCodes.has(code)) {
    return new AppError('database_unavailable', 'The transaction conflicted with another one; retry.');
  }
  switch (code) {
    case '23505':
      return new AppError('conflict', 'A record with the same identity already exists.');
    case '23503':
      return new AppError('conflict', 'The record refers to something that does not exist.');
    case '22P02': // invalid_text_representation
    case '22007': // invalid_datetime_format
    case '22008': // datetime_field_overflow
    case '22009': // invalid_time_zone_displacement_value (an offset beyond ±15:59)
    case '22003': // numeric_value_out_of_range
    case '22001': // string_data_right_truncation
    case '22021': // character_not_in_repertoire (a NUL byte in text)
    case '22P05': // untranslatable_character
      return new AppError('validation_failed', 'A value has the wrong format or is out of range.');
    default:
      return undefined;
  }
}
