/**
 * ISO 8601 durations as retention periods use them: whole numbers of years, months, weeks, days and,
 * after `T`, hours, minutes and seconds, at least one component (`P3M`, `P5Y`, `P1Y6M`, `PT12H`).
 * Fractions are refused: calendar arithmetic on "half a month" has no single meaning.
 */
export interface IsoDuration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const pattern = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Parses an ISO 8601 duration; undefined when the text is not one. */
export function parseIsoDuration(text: string): IsoDuration | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  const [, years, months, weeks, days, hours, minutes, seconds] = match;
  // "P" and "P1DT" match the pattern but name no time component: not durations.
  if (match.slice(1).every((part) => part === undefined) || text.endsWith('T')) return undefined;
  const parts = [years, months, weeks, days, hours, minutes, seconds].map((part) => Number(part ?? 0));
  if (parts.some((part) => !Number.isSafeInteger(part))) return undefined;
  const [y, mo, w, d, h, mi, s] = parts as [number, number, number, number, number, number, number];
  return { years: y, months: mo, weeks: w, days: d, hours: h, minutes: mi, seconds: s };
}

/**
 * `start + duration` in UTC calendar arithmetic, the way PostgreSQL adds an interval to a timestamp:
 * years and months first (a day past the end of the month is clamped to its last day), then the rest.
 */
export function addIsoDuration(start: Date, duration: IsoDuration): Date {
  const totalMonths = start.getUTCMonth() + duration.years * 12 + duration.months;
  const year = start.getUTCFullYear() + Math.floor(totalMonths / 12);
  const month = ((totalMonths % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const shifted = new Date(start);
  shifted.setUTCFullYear(year, month, Math.min(start.getUTCDate(), lastDay));
  const days = duration.weeks * 7 + duration.days;
  const seconds = duration.hours * 3600 + duration.minutes * 60 + duration.seconds;
  return new Date(shifted.getTime() + days * 86_400_000 + seconds * 1000);
}

/**
 * Start dates on which calendar durations are compared: the first and last day of every month of a
 * leap year and of a common year. Months and years have no fixed length, so on one date P3M and P90D
 * can end together and on another P3M ends first; an ordering that matters must hold on all of them.
 */
const referenceStarts = [2024, 2025].flatMap((year) =>
  Array.from({ length: 12 }, (_, month) => [
    new Date(Date.UTC(year, month, 1)),
    new Date(Date.UTC(year, month + 1, 0)),
  ]).flat(),
);

/**
 * Whether `holds` is true from every reference start date; `endOf(duration)` is `start + duration` in
 * epoch milliseconds, NaN past the range of dates (so a comparison with it is false).
 */
export function holdsOnEveryReferenceDate(
  holds: (endOf: (duration: IsoDuration) => number) => boolean,
): boolean {
  return referenceStarts.every((start) => holds((duration) => addIsoDuration(start, duration).getTime()));
}
