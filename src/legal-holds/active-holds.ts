import { and, eq, gt, isNull, or, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { isAnyOf } from '../db/array-param';
import { returns } from '../returns/returns.schema';
import { type LegalHoldRow, legalHolds } from './legal-holds.schema';

/** Active = not released, and no end date or an end date still ahead of `asOf`. */
export function isActive(asOf: Date): SQL {
  return and(isNull(legalHolds.releasedAt), or(isNull(legalHolds.until), gt(legalHolds.until, asOf)))!;
}

/** The active holds on a subject and/or on some of its returns. */
export async function activeHoldsFor(
  executor: Executor,
  target: { subjectId?: string; returnIds?: string[] },
  asOf: Date = new Date(),
): Promise<LegalHoldRow[]> {
  const targets = [
    target.subjectId ? eq(legalHolds.subjectId, target.subjectId) : undefined,
    target.returnIds && target.returnIds.length > 0
      ? isAnyOf(legalHolds.returnId, target.returnIds)
      : undefined,
  ].filter((condition) => condition !== undefined);
  if (targets.length === 0) return [];
  return executor
    .select()
    .from(legalHolds)
    .where(and(isActive(asOf), or(...targets)));
}

/**
 * True for a row of `returns` (the outer query's) that an active hold covers, on the return itself or
 * on its subject: usable in a WHERE, or in a select list that locks the returns it reads.
 */
export function returnHeld(asOf: Date): SQL {
  return sql`exists (select 1 from ${legalHolds} where (${legalHolds.returnId} = ${returns.id} or ${legalHolds.subjectId} = ${returns.subjectId}) and ${isActive(asOf)})`;
}

/**
 * The return ids among these that an active hold covers, on the return itself or on its subject.
 * Retention skips (and counts) them for every action; erasure keeps them.
 */
export async function heldReturnIds(
  executor: Executor,
  returnIds: string[],
  asOf: Date = new Date(),
): Promise<Set<string>> {
  if (returnIds.length === 0) return new Set();
  const rows = await executor
    .select({ id: returns.id })
    .from(returns)
    .where(and(isAnyOf(returns.id, returnIds), returnHeld(asOf)));
  return new Set(rows.map((row) => row.id));
}
