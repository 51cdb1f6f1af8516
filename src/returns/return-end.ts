import { and, inArray, isNull, notInArray, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { isAnyOf } from '../db/array-param';
import { returnEvents, returns } from './returns.schema';

/** Statuses a return ends in: `closed`, or refunded, rejected or cancelled, which lead only to `closed`. */
export const endStatuses = ['closed', 'refunded', 'rejected', 'cancelled'] as const;
export const endEventTypes = sql.raw(endStatuses.map((status) => `'${status}'`).join(', '));

/** Whether a status is one a return ends in. */
export const isEndStatus = (status: string): boolean => (endStatuses as readonly string[]).includes(status);

/** A return that ended, and one still under way, as conditions on `returns`. */
export const hasEnded: SQL = inArray(returns.status, [...endStatuses]);
export const stillUnderWay: SQL = notInArray(returns.status, [...endStatuses]);

/**
 * Statuses of a return that ended with no refund when `refunded_at` is null: rejected or cancelled, or
 * closed after one of these (a refund sets `refunded_at`). Any other return with none still owes one.
 */
export const endedWithoutRefundStatuses = ['rejected', 'cancelled', 'closed'] as const;

/** A return that ended with no refund paid, as a condition on `returns`. */
export const endedWithoutRefund: SQL = and(
  isNull(returns.refundedAt),
  inArray(returns.status, [...endedWithoutRefundStatuses]),
)!;

/**
 * When a return ended, aggregated over its end events: its `closed` event, or, for one that was
 * refunded, rejected or cancelled and never closed, that event (a merchant who never closes a return
 * would otherwise keep its data until its accounting period ends, or for ever when no refund is owed).
 */
export const endedAt: SQL = sql`coalesce(min(${returnEvents.occurredAt}) filter (where ${returnEvents.type} = 'closed'), min(${returnEvents.occurredAt}))`;

/**
 * A return that never reaches an end (a label issued and the parcel never sent, goods received and
 * never settled) would otherwise keep its personal data for ever. Once it has had no activity for this
 * long, neither creation nor an event arriving, it is dormant, and retention counts its `return_closed`
 * clock from then: archived, then erased like a closed return, its IBAN with its contact data
 * (retention-targets.ts). An event arriving later wakes it: its clock moves on and, archived, it is
 * active again (wakeDormantReturn). Its accounting record keeps its own clock.
 */
export const dormantReturnAfter = 'P1Y';

/** When a return created at `createdAt`, whose last event arrived at `lastArrival`, goes dormant. */
export const dormantFrom = (createdAt: SQLWrapper, lastArrival: SQLWrapper): SQL =>
  sql`greatest(${createdAt}, ${lastArrival}) + ${dormantReturnAfter}::interval`;

/** When a return still under way went (or will go) dormant, as SQL over `returns`. */
export const dormantSince: SQL = dormantFrom(
  returns.createdAt,
  sql`(select max(${returnEvents.receivedAt}) from ${returnEvents} where ${returnEvents.returnId} = ${returns.id})`,
);

/**
 * When a return's payment clock (its IBAN's dispute window) starts: its refund, or, for a return still
 * under way, its dormancy, which stands in for the refund that did not come in a year with no activity.
 */
export const paymentClockStart: SQL = sql`coalesce(${returns.refundedAt}, case when ${stillUnderWay} then ${dormantSince} end)`;

/** When each of these returns ended; a return still under way is absent. */
export async function returnEndTimes(executor: Executor, returnIds: string[]): Promise<Map<string, Date>> {
  if (returnIds.length === 0) return new Map();
  const rows = (await executor.execute(sql`
    select ${returnEvents.returnId} as "returnId", ${endedAt} as "endedAt" from ${returnEvents}
    where ${isAnyOf(returnEvents.returnId, returnIds)} and ${returnEvents.type} in (${endEventTypes})
    group by ${returnEvents.returnId}`)) as unknown as { returnId: string; endedAt: Date | string }[];
  return new Map(rows.map((row) => [row.returnId, new Date(row.endedAt)]));
}
