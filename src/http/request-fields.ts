import { z } from 'zod';

/*
 * Field schemas shared by request bodies and queries. Messages say what is expected and never quote
 * the submitted value: they reach the client and the logs, and the values may be personal data.
 */

const noControlCharacters = /^[^\p{Cc}]*$/u;
/** The same, but for line breaks and tabs, which a reason typed in a form may hold. */
const noControlCharactersButLines = /^(?:[^\p{Cc}]|[\t\n\r])*$/u;

const boundedText = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

/** Free text on one line: trimmed, bounded, and without control characters (PostgreSQL refuses NUL). */
export const text = (max: number) =>
  boundedText(max).regex(noControlCharacters, 'must not contain control characters');

/** Free text over several lines (a reason): line breaks and tabs allowed, other control characters not. */
export const multilineText = (max: number) =>
  boundedText(max).regex(
    noControlCharactersButLines,
    'must not contain control characters other than line breaks and tabs',
  );

/*
 * RFC 3339 lets an offset reach ±23:59 and a local year 9999 spill into year 10000 UTC; PostgreSQL
 * refuses both (SQLSTATE 22009, 22008). Real offsets stay within ±14:00, and no date this service
 * keeps lies before 2000. A window to search (the audit log's from and to) may start earlier: 1970,
 * the epoch, is a common way to say "from the start".
 */
const maxOffsetMinutes = 14 * 60;
const year2000 = Date.UTC(2000, 0, 1);
const epoch = Date.UTC(1970, 0, 1);
const latestInstant = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const offsetPattern = /([+-])(\d{2}):(\d{2})$/;

/** Says why `date` is out of range, or nothing. */
function outOfRange(date: Date, earliest: number): string | undefined {
  const time = date.getTime();
  if (Number.isNaN(time) || time < earliest || time > latestInstant) {
    return `must be between the years ${new Date(earliest).getUTCFullYear()} and 9999 (UTC)`;
  }
  return undefined;
}

/** An RFC 3339 date-time with an offset, as a Date, no earlier than `earliest`. */
const instantSince = (earliest: number) =>
  z.iso
    .datetime({ offset: true, message: 'expected an ISO 8601 date-time with an offset' })
    .transform((value, context) => {
      const offset = offsetPattern.exec(value);
      if (offset && Number(offset[2]) * 60 + Number(offset[3]) > maxOffsetMinutes) {
        context.addIssue({ code: 'custom', message: 'the offset must be between -14:00 and +14:00' });
        return z.NEVER;
      }
      const date = new Date(value);
      const problem = outOfRange(date, earliest);
      if (problem) {
        context.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return date;
    });

/** An ISO calendar date, as its midnight UTC; a day that does not exist (2031-02-30) is refused. */
const midnightSince = (earliest: number) =>
  z.iso.date().transform((value, context) => {
    const date = new Date(`${value}T00:00:00Z`);
    if (Number.isNaN(date.getTime()) || !date.toISOString().startsWith(value)) {
      context.addIssue({ code: 'custom', message: 'not a calendar date' });
      return z.NEVER;
    }
    const problem = outOfRange(date, earliest);
    if (problem) {
      context.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return date;
  });

/** An RFC 3339 date-time with an offset, as a Date that PostgreSQL can store. */
export const instant = instantSince(year2000);

/**
 * Checks an ISO date or date-time with an offset; answers its Date, or undefined once it said why not.
 * Chosen by length rather than z.union, whose failure says only "Invalid input".
 */
function instantOrDateCheck(earliest: number) {
  const dateTime = instantSince(earliest);
  const date = midnightSince(earliest);
  return (value: string, context: z.RefinementCtx): Date | undefined => {
    const parsed = (value.length === 10 ? date : dateTime).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      context.addIssue({
        code: 'custom',
        message:
          issue.code === 'invalid_format'
            ? 'expected an ISO date (2031-01-01) or date-time with an offset'
            : issue.message,
      });
    }
    return undefined;
  };
}

const instantOrDateInput = z
  .string()
  .meta({ description: 'an ISO date (midnight UTC) or an ISO date-time with an offset' });

const asOfCheck = instantOrDateCheck(year2000);

/** A date-time with an offset, or a calendar date meaning its midnight UTC (as-of dates). */
export const instantOrDate = instantOrDateInput.transform(
  (value, context) => asOfCheck(value, context) ?? z.NEVER,
);

const windowCheck = instantOrDateCheck(epoch);

/**
 * A bound of a window to search, kept as text for PostgreSQL: a Date holds milliseconds, and audit
 * windows are compared in microseconds.
 */
export const instantOrDateAsText = instantOrDateInput.transform((value, context) => {
  if (windowCheck(value, context) === undefined) return z.NEVER;
  return value.length === 10 ? `${value}T00:00:00Z` : value;
});
