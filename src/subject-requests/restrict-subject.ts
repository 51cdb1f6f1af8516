import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { subjects } from '../crypto/subjects.schema';
import { timestampParam } from '../db/sql-timestamp';
import { returns } from '../returns/returns.schema';
import { subjectRequests } from './subject-requests.schema';

/**
 * Art. 18: the subject's data is only stored, read for nothing but the purposes policies/ allows on
 * restricted data (legal claims). The subject is marked (new returns inherit it, migration
 * returns-inherit-subject-restriction), its active returns move to the `restricted` data state, and
 * every return not erased gets `restricted_at`: the pseudonymized feed flags those (an archived one
 * too, already readable for legal claims only), and the update moves them so recipients learn of it.
 */
export async function restrictSubject(tx: Executor, subjectId: string, now: Date): Promise<number> {
  await tx
    .update(subjects)
    .set({ restrictedAt: sql`coalesce(${subjects.restrictedAt}, ${timestampParam(now)})` })
    .where(eq(subjects.id, subjectId));
  const restricted = await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.dataState} = 'active' then 'restricted' else ${returns.dataState} end`,
      restrictedAt: now,
      updatedAt: sql`now()`,
    })
    .where(and(eq(returns.subjectId, subjectId), isNull(returns.restrictedAt), isNull(returns.erasedAt)))
    .returning({ id: returns.id });
  return restricted.length;
}

/**
 * Lifting the restriction: returns go back to the state they would have without it. Returns that an
 * erasure request of the subject kept (under a legal hold, restricted since) stay restricted: only
 * those created after the subject's last completed erasure come back.
 */
export async function liftSubjectRestriction(tx: Executor, subjectId: string): Promise<number> {
  await tx.update(subjects).set({ restrictedAt: null }).where(eq(subjects.id, subjectId));
  const lastErasure = sql`(select max(${subjectRequests.completedAt}) from ${subjectRequests}
    where ${subjectRequests.subjectId} = ${subjectId} and ${subjectRequests.type} = 'erasure'
      and ${subjectRequests.status} = 'completed')`;
  const lifted = await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.archivedAt} is not null then 'archived' else 'active' end`,
      restrictedAt: null,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(returns.subjectId, subjectId),
        isNotNull(returns.restrictedAt),
        sql`${returns.createdAt} > coalesce(${lastErasure}, '-infinity'::timestamptz)`,
      ),
    )
    .returning({ id: returns.id });
  return lifted.length;
}
