import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReturnRulesPolicy } from '../../src/policies/return-rules-policy';
import {
  type ClockEvent,
  computeLegalClocks,
  lateRefundSurcharge,
  withdrawalDeadline,
  withinWithdrawalWindow,
} from '../../src/returns/legal-clocks';
import { eventTypes } from '../../src/returns/return-status';

const rules: ReturnRulesPolicy = {
  withdrawal: {
    days: 14,
    missingInformationExtensionMonths: 12,
    extendToWorkingDay: true,
    holidayCalendar: 'FR',
  },
  returnDays: 14,
  refundDays: 14,
  letterbox: { maxDimensionsMm: [260, 260, 340], maxWeightGrams: 30000 },
  limits: { maxItems: 100, maxQuantityPerItem: 1000, maxUnitPriceCents: 100_000_000 },
};

/** Noon in Paris on that day, so the calendar date is unambiguous. */
const parisNoon = (day: string) => new Date(`${day}T10:00:00Z`);

describe('withdrawal deadline (L221-18 to L221-20)', () => {
  it('ends 14 days after delivery on a working day', () => {
    expect(withdrawalDeadline(parisNoon('2026-03-02'), true, rules)).toBe('2026-03-16'); // Monday
  });

  it('runs to Monday when it ends on a Saturday or a Sunday', () => {
    expect(withdrawalDeadline(parisNoon('2026-03-07'), true, rules)).toBe('2026-03-23'); // ends Sat 21
    expect(withdrawalDeadline(parisNoon('2026-03-08'), true, rules)).toBe('2026-03-23'); // ends Sun 22
  });

  it('runs past Easter Monday', () => {
    // 2026-03-23 + 14 = Monday 6 April 2026, Easter Monday: next working day is Tuesday 7 April.
    expect(withdrawalDeadline(parisNoon('2026-03-23'), true, rules)).toBe('2026-04-07');
    // Ends Saturday 4 April: Sunday, then Easter Monday, then Tuesday.
    expect(withdrawalDeadline(parisNoon('2026-03-21'), true, rules)).toBe('2026-04-07');
  });

  it('runs past Ascension, Whit Monday, 14 July and Christmas', () => {
    expect(withdrawalDeadline(parisNoon('2026-04-30'), true, rules)).toBe('2026-05-15'); // Ascension Thu 14 May
    expect(withdrawalDeadline(parisNoon('2026-05-11'), true, rules)).toBe('2026-05-26'); // Whit Monday 25 May
    expect(withdrawalDeadline(parisNoon('2026-06-30'), true, rules)).toBe('2026-07-15'); // Tue 14 July
    expect(withdrawalDeadline(parisNoon('2026-12-11'), true, rules)).toBe('2026-12-28'); // Fri 25 Dec, weekend
  });

  it('counts across 29 February in leap years', () => {
    expect(withdrawalDeadline(parisNoon('2028-02-15'), true, rules)).toBe('2028-02-29'); // Tuesday
    expect(withdrawalDeadline(parisNoon('2027-02-15'), true, rules)).toBe('2027-03-01'); // Monday
    expect(withdrawalDeadline(parisNoon('2024-02-20'), true, rules)).toBe('2024-03-05');
  });

  it('adds 12 months when the withdrawal information was not given, then applies the working-day rule', () => {
    expect(withdrawalDeadline(parisNoon('2026-03-02'), false, rules)).toBe('2027-03-16'); // Tuesday
    // 2027-02-15 + 14 = 2027-03-01, + 12 months = 2028-03-01 (Wednesday)
    expect(withdrawalDeadline(parisNoon('2027-02-15'), false, rules)).toBe('2028-03-01');
    // 2028-02-15 + 14 = 2028-02-29 (leap day), + 12 months = 2029-02-28 (Wednesday)
    expect(withdrawalDeadline(parisNoon('2028-02-15'), false, rules)).toBe('2029-02-28');
    // 2025-12-18 + 14 = 2026-01-01, + 12 months = 2027-01-01 (holiday, Friday) -> Monday 4 January
    expect(withdrawalDeadline(parisNoon('2025-12-18'), false, rules)).toBe('2027-01-04');
    // 2025-03-01 + 14 = Saturday 2025-03-15, moved to Monday 17 March; + 12 months = Tuesday 2026-03-17
    // (counting from the unmoved Saturday would give Sunday 15 March, then Monday 16: a day less).
    expect(withdrawalDeadline(parisNoon('2025-03-01'), false, rules)).toBe('2026-03-17');
  });

  it('uses the Paris calendar for the delivery day', () => {
    // 23:30 UTC on 1 March is already 2 March in Paris.
    expect(withdrawalDeadline(new Date('2026-03-01T23:30:00Z'), true, rules)).toBe('2026-03-16');
    expect(withdrawalDeadline(new Date('2026-03-01T22:30:00Z'), true, rules)).toBe('2026-03-16');
    expect(withdrawalDeadline(new Date('2026-03-01T22:59:00Z'), true, rules)).toBe('2026-03-16');
    expect(withdrawalDeadline(new Date('2026-03-01T12:00:00Z'), true, rules)).toBe('2026-03-16'); // Sun 15 -> Mon
  });

  it('honours a longer merchant window', () => {
    const generous = { ...rules, withdrawal: { ...rules.withdrawal, days: 30 } };
    expect(withdrawalDeadline(parisNoon('2026-03-02'), true, generous)).toBe('2026-04-01');
  });

  it('accepts a notification on the last day and refuses one the day after', () => {
    const deliveredAt = parisNoon('2026-03-07');
    expect(
      withinWithdrawalWindow(
        { deliveredAt, notifiedAt: new Date('2026-03-23T22:59:00Z'), withdrawalInfoGiven: true },
        rules,
      ),
    ).toBe(true);
    expect(
      withinWithdrawalWindow(
        { deliveredAt, notifiedAt: new Date('2026-03-23T23:00:00Z'), withdrawalInfoGiven: true },
        rules,
      ),
    ).toBe(false);
    expect(
      withinWithdrawalWindow(
        { deliveredAt, notifiedAt: parisNoon('2026-06-01'), withdrawalInfoGiven: false },
        rules,
      ),
    ).toBe(true);
  });

  it('is never earlier than delivery + the policy days, nor more than 5 days later (or 12 months more)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
        fc.boolean(),
        (deliveredAt, given) => {
          const deadline = withdrawalDeadline(deliveredAt, given, rules);
          const spanDays =
            (Date.parse(deadline) - Date.parse(deliveredAt.toISOString().slice(0, 10))) / 86_400_000;
          if (given) expect(spanDays >= 14 && spanDays <= 19).toBe(true);
          else expect(spanDays >= 14 + 365 - 3 && spanDays <= 14 + 366 + 5).toBe(true);
        },
      ),
    );
  });
});

describe('return and refund clocks (L221-23, L221-24, L242-4)', () => {
  const facts = {
    deliveredAt: parisNoon('2026-03-02'),
    notifiedAt: parisNoon('2026-03-05'),
    withdrawalInfoGiven: true,
  };

  it('gives 14 days to send the goods back and defers the refund until dispatch or reception', () => {
    const clocks = computeLegalClocks(facts, [], rules, parisNoon('2026-03-06'));
    expect(clocks.returnDeadline).toBe('2026-03-19');
    expect(clocks.refund).toEqual({
      dueAt: null,
      refundedAt: null,
      daysLate: 0,
      surchargePercent: 0,
      legalInterest: false,
    });
  });

  it('is due 14 days after notification when the proof of dispatch comes first', () => {
    const clocks = computeLegalClocks(
      facts,
      [{ type: 'dispatched', occurredAt: parisNoon('2026-03-07') }],
      rules,
      parisNoon('2026-03-08'),
    );
    expect(clocks.refund.dueAt).toEqual(new Date('2026-03-19T10:00:00Z'));
  });

  it('is due on reception when the goods come back after the 14 days', () => {
    const clocks = computeLegalClocks(
      facts,
      [{ type: 'received', occurredAt: parisNoon('2026-03-25') }],
      rules,
      parisNoon('2026-03-25'),
    );
    expect(clocks.refund.dueAt).toEqual(parisNoon('2026-03-25'));
  });

  it('counts days late until the refund and applies the ladder', () => {
    const events: ClockEvent[] = [
      { type: 'dispatched', occurredAt: parisNoon('2026-03-06') },
      { type: 'refunded', occurredAt: parisNoon('2026-04-13') },
    ];
    const clocks = computeLegalClocks(facts, events, rules, parisNoon('2026-06-01'));
    expect(clocks.refund).toMatchObject({
      daysLate: 25,
      surchargePercent: 10,
      refundedAt: parisNoon('2026-04-13'),
    });
    const unpaid = computeLegalClocks(facts, events.slice(0, 1), rules, parisNoon('2026-03-25'));
    expect(unpaid.refund).toMatchObject({ daysLate: 6, surchargePercent: 0, legalInterest: true });
  });

  it('follows the L242-4 ladder at every boundary', () => {
    const cases: [number, number, boolean][] = [
      [0, 0, false],
      [1, 0, true],
      [10, 0, true],
      [11, 5, false],
      [20, 5, false],
      [21, 10, false],
      [30, 10, false],
      [31, 20, false],
      [60, 20, false],
      [61, 50, false],
      [90, 50, false],
      [91, 55, false],
      [120, 55, false],
      [121, 60, false],
      [390, 100, false],
      [10_000, 100, false],
    ];
    for (const [days, percent, interest] of cases) {
      expect(lateRefundSurcharge(days), `${days} days`).toEqual({
        surchargePercent: percent,
        legalInterest: interest,
      });
    }
    fc.assert(
      fc.property(fc.nat(5000), fc.nat(5000), (a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(lateRefundSurcharge(low).surchargePercent).toBeLessThanOrEqual(
          lateRefundSurcharge(high).surchargePercent,
        );
      }),
    );
  });

  it('gives the same clocks whatever order the events arrive in', () => {
    const eventArbitrary = fc.record({
      type: fc.constantFrom(...eventTypes),
      occurredAt: fc.date({
        min: parisNoon('2026-03-02'),
        max: parisNoon('2026-06-30'),
        noInvalidDate: true,
      }),
    });
    fc.assert(
      fc.property(
        fc
          .array(eventArbitrary, { maxLength: 12 })
          .chain((events) =>
            fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length })),
          ),
        ([events, shuffled]) => {
          const now = parisNoon('2026-07-01');
          expect(computeLegalClocks(facts, shuffled, rules, now)).toEqual(
            computeLegalClocks(facts, events, rules, now),
          );
        },
      ),
    );
  });

  it('counts from the earliest proof when an earlier scan arrives late', () => {
    // The reception arrives first; the dispatch scan, a week earlier, only afterwards.
    const received: ClockEvent = { type: 'received', occurredAt: parisNoon('2026-03-30') };
    const lateScan: ClockEvent = { type: 'dispatched', occurredAt: parisNoon('2026-03-23') };
    const before = computeLegalClocks(facts, [received], rules, parisNoon('2026-04-01'));
    const after = computeLegalClocks(facts, [received, lateScan], rules, parisNoon('2026-04-01'));
    expect(before.refund.dueAt).toEqual(parisNoon('2026-03-30'));
    expect(after.refund.dueAt).toEqual(parisNoon('2026-03-23'));
    expect(after.refund.daysLate).toBe(9);
  });

  it('counts the 14 days on the Paris calendar across a change of clocks', () => {
    const dispatched = (day: string): ClockEvent[] => [{ type: 'dispatched', occurredAt: parisNoon(day) }];
    // Notified at 23:30 in Paris (CET); 14 days later is after the switch to summer time.
    const spring = {
      ...facts,
      deliveredAt: parisNoon('2024-03-18'),
      notifiedAt: new Date('2024-03-20T22:30:00Z'),
    };
    const springClocks = computeLegalClocks(spring, dispatched('2024-03-22'), rules, parisNoon('2024-04-04'));
    expect(springClocks.refund.dueAt).toEqual(new Date('2024-04-03T21:30:00Z')); // 23:30 CEST on 3 April
    expect(springClocks.refund.daysLate).toBe(1);
    // Notified at 00:30 in Paris (CEST); 14 days later is after the return to winter time.
    const autumn = {
      ...facts,
      deliveredAt: parisNoon('2024-10-18'),
      notifiedAt: new Date('2024-10-19T22:30:00Z'),
    };
    const autumnClocks = computeLegalClocks(autumn, dispatched('2024-10-22'), rules, parisNoon('2024-11-03'));
    expect(autumnClocks.refund.dueAt).toEqual(new Date('2024-11-02T23:30:00Z')); // 00:30 CET on 3 November
    expect(autumnClocks.refund.daysLate).toBe(0);
  });

  it('owes no refund, and so no lateness, once the return is rejected or cancelled', () => {
    const now = parisNoon('2026-09-01');
    for (const ending of ['rejected', 'cancelled'] as const) {
      const events: ClockEvent[] = [
        { type: 'dispatched', occurredAt: parisNoon('2026-03-06') },
        { type: ending, occurredAt: parisNoon('2026-03-12') },
      ];
      expect(computeLegalClocks(facts, events, rules, now).refund, ending).toEqual({
        dueAt: null,
        refundedAt: null,
        daysLate: 0,
        surchargePercent: 0,
        legalInterest: false,
      });
      // Refunded all the same: the clock counts again.
      const refunded = [...events, { type: 'refunded' as const, occurredAt: parisNoon('2026-04-13') }];
      expect(computeLegalClocks(facts, refunded, rules, now).refund, ending).toMatchObject({
        dueAt: new Date('2026-03-19T10:00:00Z'),
        daysLate: 25,
      });
    }
  });
});
