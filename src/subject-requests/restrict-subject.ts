import { and, eq, isNotNull, isNull, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { lockSubject } from '../crypto/subjects';
import { subjects } from '../crypto/subjects.schema';
import { timestampParam } from '../db/sql-timestamp';
import { restrictedDataState } from '../returns/return-repository';
import { returns } from '../returns/returns.schema';
import { subjectRequests } from './subject-requests.schema';

/** A restriction request whose restriction is in force: executed, and not lifted. */
export const restrictionNotLifted: SQL = sql`${subjectRequests.type} = 'restriction'
  and ${subjectRequests.status} = 'completed' and ${subjectRequests.result}->>'liftedAt' is null`;

/**
 * Art. 18: the subject's data is only stored, read for nothing but the purposes policies/ allows on
 * restricted data (legal claims). The subject is marked (new returns inherit it, migration
 * returns-inherit-subject-restriction), its active returns move to the `restricted` data state, and
 * every return gets `restricted_at`: erased ones too (an erasure may have kept their IBAN), archived
 * ones too (the pseudonymized feed flags them all, and the update moves them so recipients learn of it).
 */
export async function restrictSubject(tx: Executor, subjectId: string, now: Date): Promise<number> {
  // An intake holds its subject FOR KEY SHARE until it commits (the return's foreign key does too),
  // which an update of `restricted_at` alone does not wait for: the return it is inserting would be
  // born before the mark and missed by the update of the subject's returns. FOR UPDATE waits for it.
  await lockSubject(tx, subjectId, 'update');
  await tx
    .update(subjects)
    .set({ restrictedAt: sql`coalesce(${subjects.restrictedAt}, ${timestampParam(now)})` })
    .where(eq(subjects.id, subjectId));
  const restricted = await tx
    .update(returns)
    .set({
      dataState: restrictedDataState,
      restrictedAt: now,
      updatedAt: sql`now()`,
    })
    .where(and(eq(returns.subjectId, subjectId), isNull(returns.restrictedAt)))
    .returning({ id: returns.id });
  return restricted.length;
}

/**
 * Lifting the restriction: returns go back to the state they would have without it. One an erasure
 * kept for legal claims stays restricted (`kept_for_claims_at`). The caller holds the subject FOR
 * UPDATE (it first checks that no other restriction of the subject is in force).
 */
export async function liftSubjectRestriction(tx: Executor, subjectId: string): Promise<number> {
  await tx.update(subjects).set({ restrictedAt: null }).where(eq(subjects.id, subjectId));
  const lifted = await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.keptForClaimsAt} is not null then 'restricted'
        when ${returns.archivedAt} is not null then 'archived' else 'active' end`,
      restrictedAt: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(returns.subjectId, subjectId), isNotNull(returns.restrictedAt)))
    .returning({ id: returns.id });
  return lifted.length;
}
