/**
 * Calendar dates as `YYYY-MM-DD` strings. Legal periods count in calendar days of the consumer's
 * country, so instants are first placed on the Paris calendar and the arithmetic is done on dates.
 */
export type CalendarDate = string;

const dayMs = 86_400_000;

const parisFormatter = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Paris',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

const hourMs = 3_600_000;
/**
 * Since 1911-03-11 (before, Paris mean time, 0:09:21 ahead) Paris has been a whole number of hours off
 * UTC and has changed offset only on whole hours, so every instant of one UTC hour has one Paris date.
 */
const wholeHourOffsetsSince = Date.UTC(1911, 2, 11);
/** Distinct hours remembered; the legal clocks of a request ask about a handful. */
const maxCachedHours = 10_000;
const parisDatesByHour = new Map<number, CalendarDate>();

/**
 * The date on the Paris calendar at which an instant happens. Each UTC hour is worked out once through
 * the time-zone database (Intl) and then remembered: formatting was the legal clocks' largest cost,
 * several times per request.
 */
export function parisDateOf(instant: Date): CalendarDate {
  const ms = instant.getTime();
  // NaN fails the test too, and the formatter then throws its RangeError as before.
  if (!(ms >= wholeHourOffsetsSince)) return parisFormatter.format(instant);
  const hour = Math.floor(ms / hourMs);
  let date = parisDatesByHour.get(hour);
  if (date === undefined) {
    if (parisDatesByHour.size >= maxCachedHours) parisDatesByHour.clear();
    date = parisFormatter.format(hour * hourMs);
    parisDatesByHour.set(hour, date);
  }
  return date;
}

function toUtcMs(date: CalendarDate): number {
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
}

function fromUtcMs(ms: number): CalendarDate {
  return new Date(ms).toISOString().slice(0, 10);
}

export function calendarDate(year: number, month: number, day: number): CalendarDate {
  return fromUtcMs(Date.UTC(year, month - 1, day));
}

export function addDays(date: CalendarDate, days: number): CalendarDate {
  return fromUtcMs(toUtcMs(date) + days * dayMs);
}

/** Adds calendar months; a day that does not exist in the target month becomes its last day (Feb 29 -> Feb 28). */
export function addMonths(date: CalendarDate, months: number): CalendarDate {
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7)) - 1 + months;
  const day = Number(date.slice(8, 10));
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return fromUtcMs(Date.UTC(year, month, Math.min(day, lastDay)));
}

/** 0 = Sunday ... 6 = Saturday. */
export function dayOfWeek(date: CalendarDate): number {
  return new Date(toUtcMs(date)).getUTCDay();
}

/** Whole calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: CalendarDate, to: CalendarDate): number {
  return Math.round((toUtcMs(to) - toUtcMs(from)) / dayMs);
}
