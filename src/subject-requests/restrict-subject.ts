import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { subjects } from '../crypto/subjects.schema';
import { timestampParam } from '../db/sql-timestamp';
import { returns } from '../returns/returns.schema';

/**
 * Art. 18: the subject's data is only stored, read for nothing but the purposes policies/ allows on
 * restricted data (legal claims). The subject is marked (new returns inherit it, migration
 * returns-inherit-subject-restriction) and its active returns move to the `restricted` data state.
 */
export async function restrictSubject(tx: Executor, subjectId: string, now: Date): Promise<number> {
  await tx
    .update(subjects)
    .set({ restrictedAt: sql`coalesce(${subjects.restrictedAt}, ${timestampParam(now)})` })
    .where(eq(subjects.id, subjectId));
  const restricted = await tx
    .update(returns)
    .set({ dataState: 'restricted', restrictedAt: now, updatedAt: sql`now()` })
    .where(and(eq(returns.subjectId, subjectId), eq(returns.dataState, 'active')))
    .returning({ id: returns.id });
  return restricted.length;
}

/** Lifting the restriction: returns go back to the state they would have without it. */
export async function liftSubjectRestriction(tx: Executor, subjectId: string): Promise<number> {
  await tx.update(subjects).set({ restrictedAt: null }).where(eq(subjects.id, subjectId));
  const lifted = await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.archivedAt} is not null then 'archived' else 'active' end`,
      restrictedAt: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(returns.subjectId, subjectId), eq(returns.dataState, 'restricted')))
    .returning({ id: returns.id });
  return lifted.length;
}
