import { asc, eq, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { uuidArray } from '../db/uuid-array';
import { recipientDisclosures, recipientErasureNotices } from './disclosure-register.schema';

interface FeedPageDisclosure {
  recipientId: string;
  /** Subjects whose (pseudonymized) returns the page carried. */
  subjectIds: readonly string[];
  /** Erased returns whose tombstone the page carried. */
  tombstones: readonly { returnId: string; subjectId: string }[];
}

/**
 * The register entries of one feed page as two data-modifying CTEs (`disclosed`, `told`) for the
 * caller's statement, written only when `when` (an SQL boolean) holds; one parameter per list,
 * whatever the page size. Subjects disclosed: first time kept, last time moved; tombstones read: first
 * reading kept.
 */
export function feedPageDisclosureCtes(page: FeedPageDisclosure, when: SQL): SQL {
  return sql`
    disclosed as (
      insert into recipient_disclosures (recipient_id, subject_id, first_disclosed_at, last_disclosed_at)
      select ${page.recipientId}, subject_id, now(), now()
      from unnest(${uuidArray(page.subjectIds)}) as subject_id
      where ${when}
      on conflict (subject_id, recipient_id) do update set last_disclosed_at = excluded.last_disclosed_at
    ),
    told as (
      insert into recipient_erasure_notices (recipient_id, return_id, subject_id, told_at)
      select ${page.recipientId}, return_id, subject_id, now()
      from unnest(
        ${uuidArray(page.tombstones.map((t) => t.returnId))},
        ${uuidArray(page.tombstones.map((t) => t.subjectId))}
      ) as told(return_id, subject_id)
      where ${when}
      on conflict (recipient_id, return_id) do nothing
    )`;
}

/** Recipients that received data about the subject, and when (the access package, Art. 15(1)(c)). */
export async function disclosuresForSubject(executor: Executor, subjectId: string) {
  return executor
    .select({
      recipientId: recipientDisclosures.recipientId,
      firstDisclosedAt: recipientDisclosures.firstDisclosedAt,
      lastDisclosedAt: recipientDisclosures.lastDisclosedAt,
    })
    .from(recipientDisclosures)
    .where(eq(recipientDisclosures.subjectId, subjectId))
    .orderBy(asc(recipientDisclosures.recipientId));
}

/** Which recipients have read the tombstones of the subject's erased returns, and when (Art. 19). */
export async function recipientsToldOfErasure(executor: Executor, subjectId: string) {
  return executor
    .select({
      recipientId: recipientErasureNotices.recipientId,
      returnId: recipientErasureNotices.returnId,
      toldAt: recipientErasureNotices.toldAt,
    })
    .from(recipientErasureNotices)
    .where(eq(recipientErasureNotices.subjectId, subjectId))
    .orderBy(asc(recipientErasureNotices.recipientId), asc(recipientErasureNotices.returnId));
}
