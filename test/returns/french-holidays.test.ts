import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, calendarDate, dayOfWeek } from '../../src/returns/calendar-date';
import {
  easterSunday,
  frenchPublicHolidays,
  isFrenchWorkingDay,
  nextFrenchWorkingDay,
} from '../../src/returns/french-holidays';

describe('French public holidays', () => {
  it('computes Easter Sunday for known years', () => {
    expect(easterSunday(2024)).toBe('2024-03-31');
    expect(easterSunday(2025)).toBe('2025-04-20');
    expect(easterSunday(2026)).toBe('2026-04-05');
    expect(easterSunday(2027)).toBe('2027-03-28');
    expect(easterSunday(2038)).toBe('2038-04-25'); // latest possible date
    expect(easterSunday(2285)).toBe('2285-03-22'); // earliest possible date
  });

  it('derives Easter Monday, Ascension and Whit Monday from Easter', () => {
    const holidays = frenchPublicHolidays(2025);
    expect(holidays).toContain('2025-04-21'); // Easter Monday
    expect(holidays).toContain('2025-05-29'); // Ascension
    expect(holidays).toContain('2025-06-09'); // Whit Monday
    expect(frenchPublicHolidays(2026)).toEqual(
      new Set([
        '2026-01-01',
        '2026-04-06',
        '2026-05-01',
        '2026-05-08',
        '2026-05-14',
        '2026-05-25',
        '2026-07-14',
        '2026-08-15',
        '2026-11-01',
        '2026-11-11',
        '2026-12-25',
      ]),
    );
  });

  it('always puts Easter on a Sunday between March 22 and April 25, and keeps the Easter-based holidays', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1900, max: 2500 }), (year) => {
        const easter = easterSunday(year);
        expect(dayOfWeek(easter)).toBe(0);
        expect(easter >= calendarDate(year, 3, 22) && easter <= calendarDate(year, 4, 25)).toBe(true);
        // Ascension can fall on 1 or 8 May (2008, 2285), so two holidays may share a date.
        expect(frenchPublicHolidays(year).size).toBeGreaterThanOrEqual(10);
        expect(frenchPublicHolidays(year)).toContain(addDays(easter, 39));
      }),
    );
  });

  it('treats Saturdays, Sundays and holidays as non-working days', () => {
    expect(isFrenchWorkingDay('2026-11-27')).toBe(true); // Friday
    expect(isFrenchWorkingDay('2026-11-28')).toBe(false); // Saturday
    expect(isFrenchWorkingDay('2026-11-29')).toBe(false); // Sunday
    expect(isFrenchWorkingDay('2026-11-11')).toBe(false); // Armistice, a Wednesday
    expect(nextFrenchWorkingDay('2026-11-28')).toBe('2026-11-30');
    expect(nextFrenchWorkingDay('2026-04-04')).toBe('2026-04-07'); // Sat, Sun, Easter Monday
    expect(nextFrenchWorkingDay('2026-11-27')).toBe('2026-11-27');
  });

  it('moves any day to the first working day on or after it, within a few days', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1990-01-01'), max: new Date('2200-12-31'), noInvalidDate: true }),
        (d) => {
          const day = d.toISOString().slice(0, 10);
          const next = nextFrenchWorkingDay(day);
          expect(isFrenchWorkingDay(next)).toBe(true);
          expect(next >= day && next <= addDays(day, 4)).toBe(true);
          for (let between = day; between < next; between = addDays(between, 1)) {
            expect(isFrenchWorkingDay(between)).toBe(false);
          }
        },
      ),
    );
  });
});
