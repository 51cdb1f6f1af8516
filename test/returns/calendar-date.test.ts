import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parisDateOf } from '../../src/returns/calendar-date';

/** The time-zone database's answer for every instant, with no memo in between. */
const reference = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Paris',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

describe('parisDateOf', () => {
  it('agrees with the time-zone database on either side of midnight and of the clock changes', () => {
    const instants = [
      '2026-03-29T00:59:59.999Z', // 01:59:59 CET, the last second before summer time
      '2026-03-29T01:00:00Z', // 03:00 CEST
      '2026-10-24T21:59:59.999Z', // 23:59:59 CEST on Saturday
      '2026-10-24T22:00:00Z', // midnight CEST: Sunday
      '2026-10-25T00:59:59Z', // 02:59:59 CEST, the hour that is played twice
      '2026-10-25T01:00:00Z', // 02:00 CET
      '2026-12-31T22:59:59.999Z', // 23:59:59 CET
      '2026-12-31T23:00:00Z', // new year in Paris, not yet in UTC
      '1945-04-02T00:30:00Z', // double summer time, two hours ahead
      '1911-03-10T23:55:00Z', // Paris mean time, 0:09:21 ahead: already 11 March in Paris
      '1900-01-01T23:55:00Z',
    ];
    for (const instant of instants) {
      const date = new Date(instant);
      // Twice: the first answer is worked out, the second remembered.
      expect(parisDateOf(date), instant).toBe(reference.format(date));
      expect(parisDateOf(date), instant).toBe(reference.format(date));
    }
  });

  it('agrees with the time-zone database on any instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1850-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }),
        (date) => {
          expect(parisDateOf(date)).toBe(reference.format(date));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses an invalid date as the formatter does', () => {
    expect(() => parisDateOf(new Date(Number.NaN))).toThrow(RangeError);
  });
});
