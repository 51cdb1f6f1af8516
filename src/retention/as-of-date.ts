import { z } from 'zod';

/**
 * The date a run or preview is computed as of: an ISO date (midnight UTC) or an ISO date-time with
 * an offset. Days that do not exist (2031-02-30) are refused rather than rolled over.
 */
export const asOfSchema = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((text, context) => {
    const date = new Date(text.length === 10 ? `${text}T00:00:00Z` : text);
    const sameDay =
      !Number.isNaN(date.getTime()) && (text.length !== 10 || date.toISOString().startsWith(text));
    if (!sameDay) {
      context.addIssue({ code: 'custom', message: 'not a calendar date' });
      return z.NEVER;
    }
    return date;
  });

/** Parses a CLI `--as-of` value; throws a one-line error naming the option. */
export function parseAsOf(text: string): Date {
  const result = asOfSchema.safeParse(text);
  if (!result.success) throw new Error('--as-of: expected an ISO date (2031-01-01) or date-time with offset');
  return result.data;
}
