import { addIsoDuration } from '../policies/iso-duration';

/**
 * GDPR Art. 12(3) counts in calendar months, not in days: a request received on 15 March is due on
 * 15 April, one received on 31 January is due on the last day of February. Dates are computed in
 * UTC and keep the time of day of the receipt.
 */

/** `date` plus `months` calendar months: the same day, or the month's last day when it has no such day. */
export function addCalendarMonths(date: Date, months: number): Date {
  if (!Number.isInteger(months) || months < 0) throw new RangeError('months must be a non-negative integer');
  return addIsoDuration(date, { years: 0, months, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 });
}

/** Art. 12(3): the answer is due one calendar month after receipt. */
export function requestDueAt(receivedAt: Date): Date {
  return addCalendarMonths(receivedAt, 1);
}

/** The most an extension may add (Art. 12(3): "by two further months"). */
export const maxExtensionMonths = 2;

export type ExtensionRefusal = 'already_extended' | 'first_month_over' | 'too_many_months';

/**
 * The extended deadline, counted from the original one (never from receipt: 31 Jan is due 28 Feb,
 * and two more months end on 28 Apr, not 30 Apr). Allowed once, only before the first month ends.
 */
export function extendedDueAt(
  request: { dueAt: Date; extendedDueAt: Date | null },
  months: number,
  now: Date,
): { ok: true; extendedDueAt: Date } | { ok: false; refusal: ExtensionRefusal } {
  if (request.extendedDueAt !== null) return { ok: false, refusal: 'already_extended' };
  if (!Number.isInteger(months) || months < 1 || months > maxExtensionMonths) {
    return { ok: false, refusal: 'too_many_months' };
  }
  if (now.getTime() >= request.dueAt.getTime()) return { ok: false, refusal: 'first_month_over' };
  return { ok: true, extendedDueAt: addCalendarMonths(request.dueAt, months) };
}

/** The deadline in force: the extended one when there is one. */
export function effectiveDueAt(request: { dueAt: Date; extendedDueAt: Date | null }): Date {
  return request.extendedDueAt ?? request.dueAt;
}
