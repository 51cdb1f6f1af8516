import { addDays, addMonths, parisDateOf, parisDayStart, toUtcMs } from '../returns/calendar-date';

/**
 * GDPR Art. 12(3) counts in calendar months, not in days: a request received on 15 March is due on
 * 15 April, one received on 31 January is due on the last day of February. The months are those of
 * the Paris calendar: a request received at 00:30 on 1 March in Paris (still 28 February in UTC) is
 * due on 1 April. The deadline keeps the receipt's time of day in UTC, on that Paris date.
 */

const dayMs = 86_400_000;

/** `date` plus `months` calendar months: the same day, or the month's last day when it has no such day. */
export function addCalendarMonths(date: Date, months: number): Date {
  if (!Number.isInteger(months) || months < 0) throw new RangeError('months must be a non-negative integer');
  const target = addMonths(parisDateOf(date), months);
  let due = toUtcMs(target) + (((date.getTime() % dayMs) + dayMs) % dayMs);
  // Paris is less than a day ahead of UTC: that instant falls on the target Paris date or the next.
  if (parisDateOf(new Date(due)) > target) due -= dayMs;
  return new Date(due);
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
 * and two more months end on 28 Apr, not 30 Apr). Allowed once, only before the first month ends:
 * until the end of the due date, in Paris.
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
  // The month ends with the last hour of its last day (Reg. 1182/71 Art. 3(2)(c), which the EDPB
  // applies to Art. 12(3)): `dueAt` keeps the time of receipt, but the day is the controller's to its end.
  const firstMonthOver = parisDayStart(addDays(parisDateOf(request.dueAt), 1));
  if (now.getTime() >= firstMonthOver.getTime()) return { ok: false, refusal: 'first_month_over' };
  return { ok: true, extendedDueAt: addCalendarMonths(request.dueAt, months) };
}

/** The deadline in force: the extended one when there is one. */
export function effectiveDueAt(request: { dueAt: Date; extendedDueAt: Date | null }): Date {
  return request.extendedDueAt ?? request.dueAt;
}
