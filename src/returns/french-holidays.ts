import { addDays, type CalendarDate, calendarDate, dayOfWeek } from './calendar-date';

/** Easter Sunday of a Gregorian year (anonymous Gregorian algorithm, Meeus/Jones/Butcher). */
export function easterSunday(year: number): CalendarDate {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return calendarDate(year, month, day);
}

const holidayCache = new Map<number, ReadonlySet<CalendarDate>>();

/**
 * The eleven national public holidays of metropolitan France (Code du travail L3133-1), computed so no
 * list has to be maintained. Alsace-Moselle's extra days (Good Friday, 26 December) are not national.
 */
export function frenchPublicHolidays(year: number): ReadonlySet<CalendarDate> {
  const cached = holidayCache.get(year);
  if (cached) return cached;
  const easter = easterSunday(year);
  const holidays = new Set<CalendarDate>([
    calendarDate(year, 1, 1),
    addDays(easter, 1), // Easter Monday
    calendarDate(year, 5, 1),
    calendarDate(year, 5, 8),
    addDays(easter, 39), // Ascension Thursday
    addDays(easter, 50), // Whit Monday
    calendarDate(year, 7, 14),
    calendarDate(year, 8, 15),
    calendarDate(year, 11, 1),
    calendarDate(year, 11, 11),
    calendarDate(year, 12, 25),
  ]);
  holidayCache.set(year, holidays);
  return holidays;
}

export function isFrenchPublicHoliday(date: CalendarDate): boolean {
  return frenchPublicHolidays(Number(date.slice(0, 4))).has(date);
}

/** A day on which a legal period may end (L221-19): not a Saturday, a Sunday or a public holiday. */
export function isFrenchWorkingDay(date: CalendarDate): boolean {
  const weekday = dayOfWeek(date);
  return weekday !== 0 && weekday !== 6 && !isFrenchPublicHoliday(date);
}

/** The date itself when it is a working day, else the next working day. */
export function nextFrenchWorkingDay(date: CalendarDate): CalendarDate {
  let day = date;
  while (!isFrenchWorkingDay(day)) day = addDays(day, 1);
  return day;
}
