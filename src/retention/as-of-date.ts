import { instantOrDate } from '../http/request-fields';

/** Parses a CLI `--as-of` value; throws a one-line error naming the option. */
export function parseAsOf(text: string): Date {
  const result = instantOrDate.safeParse(text);
  if (!result.success) throw new Error('--as-of: expected an ISO date (2031-01-01) or date-time with offset');
  return result.data;
}

/** Clocks of a caller and of this server may differ by this much. */
const clockSkewMs = 5 * 60_000;

/**
 * Why a run may not use this as-of date, or undefined when it may: a run that changes data is computed
 * as of now or a past date, since as of a future date it would erase or delete data before its period
 * ends (and see legal holds as already expired). A dry run may look ahead.
 */
export function futureAsOfProblem(asOf: Date | undefined, dryRun: boolean | undefined): string | undefined {
  if (dryRun || asOf === undefined || asOf.getTime() <= Date.now() + clockSkewMs) return undefined;
  return 'must not be in the future for a run that changes data (a dry run may look ahead)';
}
