import { and, eq, gt, inArray, isNull, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
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
      ? inArray(legalHolds.returnId, target.returnIds)
      : undefined,
  ].filter((condition) => condition !== undefined);
  if (targets.length === 0) return [];
  return executor
    .select()
    .from(legalHolds)
    .where(and(isActive(asOf), or(...targets)));
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
    .selectDistinct({ id: returns.id })
    .from(returns)
    .innerJoin(
      legalHolds,
      or(eq(legalHolds.returnId, returns.id), eq(legalHolds.subjectId, returns.subjectId)),
    )
    .where(and(inArray(returns.id, returnIds), isActive(asOf)));
  return new Set(rows.map((row) => row.id));
}
