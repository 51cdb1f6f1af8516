/**
 * Calendar dates as `YYYY-MM-DD` strings. Legal periods count in calendar days of the consumer's
 * country, so instants are first placed on the Paris calendar and the arithmetic is done on dates.
 */
export type CalendarDate = string;

const dayMs = 86_400_000;

/** The time zone of the service's legal calendar (French law, the consumer's country). */
export const legalTimeZone = 'Europe/Paris';

/** Paris wall-clock fields of an instant, from the time-zone database. */
const parisClock = new Intl.DateTimeFormat('en-CA', {
  timeZone: legalTimeZone,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

interface ParisClock {
  date: CalendarDate;
  /** How far Paris wall-clock time is ahead of UTC. */
  offsetMs: number;
}

/** Asks the time-zone database (whole seconds: Paris offsets have no fraction). */
function readParisClock(ms: number): ParisClock {
  const field: Record<string, number> = {};
  for (const part of parisClock.formatToParts(ms)) {
    if (part.type !== 'literal') field[part.type] = Number(part.value);
  }
  const { year, month, day, hour, minute, second } = field as Record<string, number>;
  const wallClockAsUtc = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  return {
    date: fromUtcMs(Date.UTC(year!, month! - 1, day!)),
    offsetMs: wallClockAsUtc - Math.floor(ms / 1000) * 1000,
  };
}

const hourMs = 3_600_000;
/**
 * Since 1911-03-11 (before, Paris mean time, 0:09:21 ahead) Paris has been a whole number of hours off
 * UTC and has changed offset only on whole hours, so every instant of one UTC hour has one Paris date
 * and one offset.
 */
const wholeHourOffsetsSince = Date.UTC(1911, 2, 11);
/** Distinct hours remembered; the legal clocks of a request ask about a handful. */
const maxCachedHours = 10_000;
const parisClocksByHour = new Map<number, ParisClock>();

/**
 * Each UTC hour is worked out once through the time-zone database (Intl) and then remembered: asking
 * it was the legal clocks' largest cost, several times per request.
 */
function parisClockAt(instant: Date): ParisClock {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError('Invalid time value');
  if (ms < wholeHourOffsetsSince) return readParisClock(ms);
  const hour = Math.floor(ms / hourMs);
  let clock = parisClocksByHour.get(hour);
  if (clock === undefined) {
    if (parisClocksByHour.size >= maxCachedHours) parisClocksByHour.clear();
    clock = readParisClock(hour * hourMs);
    parisClocksByHour.set(hour, clock);
  }
  return clock;
}

/** The date on the Paris calendar at which an instant happens. */
export function parisDateOf(instant: Date): CalendarDate {
  return parisClockAt(instant).date;
}

/**
 * `days` Paris calendar days later, at the same wall-clock time. Periods of the law count Paris
 * calendar days: one that spans a change of clocks lasts an hour more or less than `days` times 24 hours.
 */
export function addParisDays(instant: Date, days: number): Date {
  const { offsetMs } = parisClockAt(instant);
  const wallClock = instant.getTime() + offsetMs + days * dayMs;
  return new Date(wallClock - parisClockAt(new Date(wallClock - offsetMs)).offsetMs);
}

/** The instant a Paris calendar day begins: its midnight, Paris time. */
export function parisDayStart(date: CalendarDate): Date {
  const utcMidnight = toUtcMs(date);
  // Paris is one or two hours ahead of UTC, and its clocks change at 01:00 UTC: the offset in force at
  // UTC midnight is the one at the Paris midnight before it.
  return new Date(utcMidnight - parisClockAt(new Date(utcMidnight)).offsetMs);
}

export function toUtcMs(date: CalendarDate): number {
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
