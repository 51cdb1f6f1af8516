import type { DateGeneralisation } from '../policies/recipients-policy';
import { parisDateOf } from '../returns/calendar-date';

const hourMs = 3_600_000;
const dayMs = 86_400_000;

/** The ISO 8601 week of a calendar date, as `2026-W09` (the Thursday of its week gives the year). */
function isoWeek(date: string): string {
  const utc = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
  const weekday = (new Date(utc).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const thursday = new Date(utc + (3 - weekday) * dayMs);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / dayMs / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const generalise: Record<DateGeneralisation, (parisDate: string) => string> = {
  day: (date) => date,
  week: isoWeek,
  month: (date) => date.slice(0, 7),
};

/** Distinct hours remembered per generalisation; a feed page spans a few hundred at most. */
const maxCachedHours = 100_000;
const caches: Record<DateGeneralisation, Map<number, string>> = {
  day: new Map(),
  week: new Map(),
  month: new Map(),
};

/**
 * The generalised Paris date of an instant given as its hour since the epoch (what the feed's SELECT
 * sends: floor(epoch / 3600)). Paris has been a whole number of hours off UTC since 1911, so every
 * instant of one UTC hour has the same Paris date, and each hour is worked out once, through the
 * time-zone database (Intl), then remembered. The database used to format these (to_char in the
 * Paris time zone); that was a third of the feed query's time.
 */
export function generalisedParisDate(generalisation: DateGeneralisation, hour: number): string {
  const cache = caches[generalisation];
  let generalised = cache.get(hour);
  if (generalised === undefined) {
    if (cache.size >= maxCachedHours) cache.clear();
    generalised = generalise[generalisation](parisDateOf(new Date(hour * hourMs)));
    cache.set(hour, generalised);
  }
  return generalised;
}
