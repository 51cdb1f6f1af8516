import type { DateGeneralisation } from '../policies/recipients-policy';

/**
 * Coarsens a `YYYY-MM-DD` calendar date to what a recipient's policy allows: the day itself, its ISO
 * 8601 week (`2026-W09`) or its month (`2026-02`). A coarse date cannot single out a customer by the
 * exact day they were delivered or wrote.
 */
export function generaliseDate(date: string, level: DateGeneralisation): string {
  switch (level) {
    case 'day':
      return date;
    case 'month':
      return date.slice(0, 7);
    case 'week':
      return isoWeekOf(date);
  }
}

function isoWeekOf(date: string): string {
  const day = new Date(`${date}T00:00:00Z`);
  // The ISO week belongs to the year of its Thursday.
  const weekday = day.getUTCDay() || 7;
  const thursday = new Date(day.getTime() + (4 - weekday) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}
