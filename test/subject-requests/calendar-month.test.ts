import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addMonths, parisDateOf } from '../../src/returns/calendar-date';
import {
  addCalendarMonths,
  effectiveDueAt,
  extendedDueAt,
  requestDueAt,
} from '../../src/subject-requests/calendar-month';

const day = 86_400_000;
const at = (iso: string) => new Date(iso);
const dates = fc.date({
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('2200-12-31T23:59:59Z'),
  noInvalidDate: true,
});

describe('calendar-month deadlines (Art. 12(3))', () => {
  it('is due on the same day of the next month, keeping the time of day', () => {
    expect(requestDueAt(at('2026-03-15T10:20:30Z')).toISOString()).toBe('2026-04-15T10:20:30.000Z');
    expect(requestDueAt(at('2026-12-05T00:00:00Z')).toISOString()).toBe('2027-01-05T00:00:00.000Z');
  });

  it('falls on the last day of the month when that day does not exist', () => {
    expect(requestDueAt(at('2026-01-31T09:00:00Z')).toISOString()).toBe('2026-02-28T09:00:00.000Z');
    expect(requestDueAt(at('2028-01-31T09:00:00Z')).toISOString()).toBe('2028-02-29T09:00:00.000Z');
    expect(requestDueAt(at('2028-01-29T09:00:00Z')).toISOString()).toBe('2028-02-29T09:00:00.000Z');
    expect(requestDueAt(at('2026-03-31T09:00:00Z')).toISOString()).toBe('2026-04-30T09:00:00.000Z');
    expect(requestDueAt(at('2026-08-31T09:00:00Z')).toISOString()).toBe('2026-09-30T09:00:00.000Z');
  });

  it('handles leap years: 29 February and the years that are not leap (1900, 2100) or are (2000)', () => {
    expect(requestDueAt(at('2028-02-29T12:00:00Z')).toISOString()).toBe('2028-03-29T12:00:00.000Z');
    expect(addCalendarMonths(at('2028-02-29T12:00:00Z'), 12).toISOString()).toBe('2029-02-28T12:00:00.000Z');
    expect(requestDueAt(at('2100-01-31T00:00:00Z')).toISOString()).toBe('2100-02-28T00:00:00.000Z');
    expect(requestDueAt(at('2000-01-31T00:00:00Z')).toISOString()).toBe('2000-02-29T00:00:00.000Z');
  });

  it('counts the months of the Paris calendar, whatever the UTC date', () => {
    // 00:30 on 1 March in Paris is still 28 February in UTC: due on 1 April in Paris.
    expect(requestDueAt(at('2025-03-01T00:30:00+01:00')).toISOString()).toBe('2025-03-31T23:30:00.000Z');
    // 31 January in Paris (23:30 UTC on the 30th): due on 29 February 2024 in Paris.
    expect(requestDueAt(at('2024-01-30T23:30:00Z')).toISOString()).toBe('2024-02-28T23:30:00.000Z');
    // 1 May 00:15 in Paris: due on 1 June.
    expect(requestDueAt(at('2025-04-30T22:15:00Z')).toISOString()).toBe('2025-05-31T22:15:00.000Z');
  });

  it('is due on the Paris date one calendar month after the Paris date of receipt, at its UTC time of day', () => {
    fc.assert(
      fc.property(dates, fc.integer({ min: 0, max: 36 }), (received, months) => {
        const result = addCalendarMonths(received, months);
        expect(parisDateOf(result)).toBe(addMonths(parisDateOf(received), months));
        expect(result.getTime() % day).toBe(received.getTime() % day);
      }),
    );
  });

  it('never moves backwards: a later receipt is never due earlier', () => {
    fc.assert(
      fc.property(dates, dates, (a, b) => {
        const [early, late] = a <= b ? [a, b] : [b, a];
        return requestDueAt(early).getTime() <= requestDueAt(late).getTime();
      }),
    );
  });
});

describe('extension (Art. 12(3): once, two more months at most, within the first month)', () => {
  const received = at('2026-01-31T09:00:00Z');
  const request = { dueAt: requestDueAt(received), extendedDueAt: null };

  it('extends from the original deadline, by one or two months', () => {
    const two = extendedDueAt(request, 2, at('2026-02-10T00:00:00Z'));
    expect(two).toEqual({ ok: true, extendedDueAt: at('2026-04-28T09:00:00Z') });
    const one = extendedDueAt(request, 1, at('2026-02-10T00:00:00Z'));
    expect(one).toEqual({ ok: true, extendedDueAt: at('2026-03-28T09:00:00Z') });
  });

  it('is allowed to the end of the last day of the first month, in Paris, and refused after', () => {
    // Due 28 February at 09:00 UTC (the time of receipt); that day ends at midnight in Paris (23:00 UTC).
    expect(extendedDueAt(request, 2, request.dueAt)).toMatchObject({ ok: true });
    expect(extendedDueAt(request, 2, at('2026-02-28T22:59:59.999Z'))).toMatchObject({ ok: true });
    expect(extendedDueAt(request, 2, at('2026-02-28T23:00:00Z'))).toEqual({
      ok: false,
      refusal: 'first_month_over',
    });
    // In summer time, Paris midnight is 22:00 UTC: received 30 June, due 30 July.
    const summer = { dueAt: requestDueAt(at('2026-06-30T20:00:00Z')), extendedDueAt: null };
    expect(summer.dueAt).toEqual(at('2026-07-30T20:00:00Z'));
    expect(extendedDueAt(summer, 1, at('2026-07-30T21:59:59Z'))).toMatchObject({ ok: true });
    expect(extendedDueAt(summer, 1, at('2026-07-30T22:00:00Z'))).toMatchObject({ ok: false });
    expect(extendedDueAt(request, 2, at('2026-03-01T00:00:00Z'))).toEqual({
      ok: false,
      refusal: 'first_month_over',
    });
  });

  it('is refused a second time and beyond two months', () => {
    const extended = { ...request, extendedDueAt: at('2026-04-28T09:00:00Z') };
    expect(extendedDueAt(extended, 1, at('2026-02-01T00:00:00Z'))).toEqual({
      ok: false,
      refusal: 'already_extended',
    });
    expect(extendedDueAt(request, 3, at('2026-02-01T00:00:00Z'))).toEqual({
      ok: false,
      refusal: 'too_many_months',
    });
    expect(extendedDueAt(request, 0, at('2026-02-01T00:00:00Z'))).toEqual({
      ok: false,
      refusal: 'too_many_months',
    });
  });

  it('never ends before the original deadline nor more than three months after receipt', () => {
    fc.assert(
      fc.property(dates, fc.integer({ min: 1, max: 2 }), (receivedAt, months) => {
        const original = { dueAt: requestDueAt(receivedAt), extendedDueAt: null };
        const result = extendedDueAt(original, months, receivedAt);
        if (!result.ok) return false;
        return (
          result.extendedDueAt > original.dueAt &&
          result.extendedDueAt <= addCalendarMonths(receivedAt, 3) &&
          effectiveDueAt({ ...original, extendedDueAt: result.extendedDueAt }) === result.extendedDueAt
        );
      }),
    );
  });
});
