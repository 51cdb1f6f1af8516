import { z } from 'zod';

/*
 * Field schemas shared by request bodies and queries. Messages say what is expected and never quote
 * the submitted value: they reach the client and the logs, and the values may be personal data.
 */

const noControlCharacters = /^[^\p{Cc}]*$/u;

/** Free text: trimmed, bounded, and without control characters (PostgreSQL refuses a NUL byte). */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(noControlCharacters, 'must not contain control characters');

/*
 * RFC 3339 lets an offset reach ±23:59 and a local year 9999 spill into year 10000 UTC; PostgreSQL
 * refuses both (SQLSTATE 22009, 22008). Real offsets stay within ±14:00, and no date this service
 * keeps lies before 2000.
 */
const maxOffsetMinutes = 14 * 60;
const earliestInstant = Date.UTC(2000, 0, 1);
const latestInstant = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const offsetPattern = /([+-])(\d{2}):(\d{2})$/;
const rangeMessage = 'must be between the years 2000 and 9999 (UTC)';

function withinRange(date: Date): boolean {
  const time = date.getTime();
  return !Number.isNaN(time) && time >= earliestInstant && time <= latestInstant;
}

/** An RFC 3339 date-time with an offset, as a Date, that PostgreSQL can store. */
export const instant = z.iso
  .datetime({ offset: true, message: 'expected an ISO 8601 date-time with an offset' })
  .transform((value, context) => {
    const offset = offsetPattern.exec(value);
    if (offset && Number(offset[2]) * 60 + Number(offset[3]) > maxOffsetMinutes) {
      context.addIssue({ code: 'custom', message: 'the offset must be between -14:00 and +14:00' });
      return z.NEVER;
    }
    const date = new Date(value);
    if (!withinRange(date)) {
      context.addIssue({ code: 'custom', message: rangeMessage });
      return z.NEVER;
    }
    return date;
  });

/** An ISO calendar date, as its midnight UTC; a day that does not exist (2031-02-30) is refused. */
const midnight = z.iso.date().transform((value, context) => {
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || !date.toISOString().startsWith(value)) {
    context.addIssue({ code: 'custom', message: 'not a calendar date' });
    return z.NEVER;
  }
  if (!withinRange(date)) {
    context.addIssue({ code: 'custom', message: rangeMessage });
    return z.NEVER;
  }
  return date;
});

/** Checks an ISO date or date-time with an offset; answers its Date, or undefined once it said why not. */
function checkInstantOrDate(value: string, context: z.RefinementCtx): Date | undefined {
  // Chosen by length rather than z.union, whose failure says only "Invalid input".
  const parsed = (value.length === 10 ? midnight : instant).safeParse(value);
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
}

const instantOrDateText = z
  .string()
  .meta({ description: 'an ISO date (midnight UTC) or an ISO date-time with an offset' });

/** A date-time with an offset, or a calendar date meaning its midnight UTC (as-of dates). */
export const instantOrDate = instantOrDateText.transform(
  (value, context) => checkInstantOrDate(value, context) ?? z.NEVER,
);

/**
 * The same, kept as text for PostgreSQL: a Date holds milliseconds, and audit windows are compared in
 * microseconds.
 */
export const instantOrDateAsText = instantOrDateText.transform((value, context) => {
  if (checkInstantOrDate(value, context) === undefined) return z.NEVER;
  return value.length === 10 ? `${value}T00:00:00Z` : value;
});
