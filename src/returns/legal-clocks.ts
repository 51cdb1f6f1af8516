import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import {
  addDays,
  addMonths,
  addParisDays,
  type CalendarDate,
  daysBetween,
  parisDateOf,
} from './calendar-date';
import { nextFrenchWorkingDay } from './french-holidays';
import type { EventType } from './return-status';

export interface ClockFacts {
  deliveredAt: Date;
  notifiedAt: Date;
  /** L221-20: false when the customer was not told about the right of withdrawal. */
  withdrawalInfoGiven: boolean;
}

export interface ClockEvent {
  type: EventType;
  occurredAt: Date;
}

export interface RefundClock {
  /**
   * L221-24 deadline; null while the merchant may still wait for the goods or a proof of dispatch,
   * and when no refund is owed (rejected or cancelled).
   */
  dueAt: Date | null;
  refundedAt: Date | null;
  /** Calendar days (Paris) between the due date and the refund, or today while unpaid. */
  daysLate: number;
  /** L242-4 surcharge on the amount owed. */
  surchargePercent: number;
  /** True in the first 10 days late, when the legal interest rate applies instead of a surcharge. */
  legalInterest: boolean;
}

export interface LegalClocks {
  /** Last day (Paris calendar, inclusive) on which the withdrawal may be notified. */
  withdrawalDeadline: CalendarDate;
  /** Last day (inclusive) for sending the goods back (L221-23). */
  returnDeadline: CalendarDate;
  refund: RefundClock;
}

/**
 * L221-18 to L221-20: the period starts the day after delivery, lasts the policy's days (14 at least),
 * and an end on a Saturday, Sunday or public holiday runs to the next working day; when the withdrawal
 * information was not given, 12 months more, again moved off a weekend or holiday.
 */
export function withdrawalDeadline(
  deliveredAt: Date,
  withdrawalInfoGiven: boolean,
  rules: ReturnRulesPolicy,
): CalendarDate {
  const initialEnd = nextFrenchWorkingDay(addDays(parisDateOf(deliveredAt), rules.withdrawal.days));
  if (withdrawalInfoGiven) return initialEnd;
  // L221-20 counts the 12 months from the expiry of the initial period, which L221-19 has already
  // moved off a weekend or holiday: the reading that gives the customer the later day.
  return nextFrenchWorkingDay(addMonths(initialEnd, rules.withdrawal.missingInformationExtensionMonths));
}

/** True when the withdrawal notified at `notifiedAt` is within the window. */
export function withinWithdrawalWindow(facts: ClockFacts, rules: ReturnRulesPolicy): boolean {
  return (
    parisDateOf(facts.notifiedAt) <= withdrawalDeadline(facts.deliveredAt, facts.withdrawalInfoGiven, rules)
  );
}

/**
 * L242-4 ladder: legal interest up to 10 days late, then 5 % (10-20 days), 10 % (20-30), 20 % (30-60),
 * 50 % (60-90), then five more points for each month started, up to the price of the goods (100 %).
 */
export function lateRefundSurcharge(daysLate: number): { surchargePercent: number; legalInterest: boolean } {
  if (daysLate <= 0) return { surchargePercent: 0, legalInterest: false };
  if (daysLate <= 10) return { surchargePercent: 0, legalInterest: true };
  if (daysLate <= 20) return { surchargePercent: 5, legalInterest: false };
  if (daysLate <= 30) return { surchargePercent: 10, legalInterest: false };
  if (daysLate <= 60) return { surchargePercent: 20, legalInterest: false };
  if (daysLate <= 90) return { surchargePercent: 50, legalInterest: false };
  const monthsStarted = Math.ceil((daysLate - 90) / 30);
  return { surchargePercent: Math.min(100, 50 + 5 * monthsStarted), legalInterest: false };
}

const deferralEvents: ReadonlySet<EventType> = new Set(['dispatched', 'received']);
const refundEvents: ReadonlySet<EventType> = new Set(['refunded']);
/** No refund is owed once the goods were refused at inspection or the return was called off. */
const noRefundEvents: ReadonlySet<EventType> = new Set(['rejected', 'cancelled']);

/** When the earliest event of these types happened, whatever order the events arrived in. */
function earliest(events: readonly ClockEvent[], types: ReadonlySet<EventType>): Date | null {
  let first: Date | null = null;
  for (const event of events) {
    if (types.has(event.type) && (first === null || event.occurredAt < first)) first = event.occurredAt;
  }
  return first;
}

/**
 * Every legal clock of a return, from its facts and its events in any order: a scan that arrives late
 * counts from when it happened. L221-24: the refund is due 14 Paris calendar days after the
 * notification, or, when later, at the first of the proof of dispatch and the reception; while neither
 * happened, or when no refund is owed (rejected, cancelled, and not refunded), it has no due date.
 */
export function computeLegalClocks(
  facts: ClockFacts,
  events: readonly ClockEvent[],
  rules: ReturnRulesPolicy,
  now: Date,
): LegalClocks {
  const notifiedDay = parisDateOf(facts.notifiedAt);
  const refundedAt = earliest(events, refundEvents);
  const owed = refundedAt !== null || earliest(events, noRefundEvents) === null;
  const deferredUntil = owed ? earliest(events, deferralEvents) : null;
  const dueAt = deferredUntil
    ? new Date(Math.max(addParisDays(facts.notifiedAt, rules.refundDays).getTime(), deferredUntil.getTime()))
    : null;
  const daysLate = dueAt ? Math.max(0, daysBetween(parisDateOf(dueAt), parisDateOf(refundedAt ?? now))) : 0;
  return {
    withdrawalDeadline: withdrawalDeadline(facts.deliveredAt, facts.withdrawalInfoGiven, rules),
    returnDeadline: addDays(notifiedDay, rules.returnDays),
    refund: { dueAt, refundedAt, daysLate, ...lateRefundSurcharge(daysLate) },
  };
}
