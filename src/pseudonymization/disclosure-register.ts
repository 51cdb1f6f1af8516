import { arrayContains, asc, eq, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { uuidArray } from '../db/array-param';
import {
  recipientDisclosureLog,
  recipientDisclosures,
  recipientErasureNotices,
} from './disclosure-register.schema';

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
 * whatever the page size. Subjects disclosed: one log row for the page (folded later, see
 * foldDisclosureLog); tombstones read: first reading kept.
 *
 * Why a log: the page waits for this statement, and upserting each subject's row cost about 14 µs
 * per subject, most of the time a page took to record.
 */
export function feedPageDisclosureCtes(page: FeedPageDisclosure, when: SQL): SQL {
  return sql`
    disclosed as (
      insert into recipient_disclosure_log (recipient_id, disclosed_at, subject_ids)
      select ${page.recipientId}, now(), ${uuidArray(page.subjectIds)}
      where ${when} and ${page.subjectIds.length > 0}
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

/**
 * Recipients that received data about the subject, and when (the access package, Art. 15(1)(c)): the
 * folded register and the log rows not folded yet, together.
 */
export async function disclosuresForSubject(executor: Executor, subjectId: string) {
  const folded = executor
    .select({
      recipientId: recipientDisclosures.recipientId,
      firstAt: recipientDisclosures.firstDisclosedAt,
      lastAt: recipientDisclosures.lastDisclosedAt,
    })
    .from(recipientDisclosures)
    .where(eq(recipientDisclosures.subjectId, subjectId));
  const logged = executor
    .select({
      recipientId: recipientDisclosureLog.recipientId,
      firstAt: recipientDisclosureLog.disclosedAt,
      lastAt: recipientDisclosureLog.disclosedAt,
    })
    .from(recipientDisclosureLog)
    .where(arrayContains(recipientDisclosureLog.subjectIds, [subjectId]));
  const disclosures = folded.unionAll(logged).as('disclosures');
  return executor
    .select({
      recipientId: disclosures.recipientId,
      firstDisclosedAt: sql`min(${disclosures.firstAt})`.mapWith(recipientDisclosures.firstDisclosedAt),
      lastDisclosedAt: sql`max(${disclosures.lastAt})`.mapWith(recipientDisclosures.lastDisclosedAt),
    })
    .from(disclosures)
    .groupBy(disclosures.recipientId)
    .orderBy(asc(disclosures.recipientId));
}

/**
 * Folds up to `maxPages` log rows into `recipient_disclosures`, oldest first, in one statement: the
 * rows are deleted and their subjects upserted together (first time the earliest, last time the
 * latest), so a fold killed half-way leaves both as they were. Rows another fold holds are skipped:
 * instances fold side by side. Answers how many rows it folded.
 */
export async function foldDisclosureLog(executor: Executor, maxPages: number): Promise<number> {
  const [row] = (await executor.execute(sql`
    with folded as (
      delete from ${recipientDisclosureLog}
      where id in (select id from ${recipientDisclosureLog} order by id limit ${maxPages} for update skip locked)
      returning recipient_id, disclosed_at, subject_ids
    ), upserted as (
      insert into ${recipientDisclosures} (recipient_id, subject_id, first_disclosed_at, last_disclosed_at)
      select recipient_id, subject_id, min(disclosed_at), max(disclosed_at)
      from folded, unnest(subject_ids) as subject_id
      group by subject_id, recipient_id
      order by subject_id, recipient_id
      on conflict (subject_id, recipient_id) do update set
        first_disclosed_at = least(${recipientDisclosures.firstDisclosedAt}, excluded.first_disclosed_at),
        last_disclosed_at = greatest(${recipientDisclosures.lastDisclosedAt}, excluded.last_disclosed_at)
    )
    select count(*)::int as pages from folded`)) as unknown as { pages: number }[];
  return row?.pages ?? 0;
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

/**
 * Art. 19 for one subject: every recipient its data was disclosed to, and how far each was told of
 * the erasures (the tombstones it has read, and when it read the last). A recipient that still has
 * returns to be told has read fewer tombstones than the subject has erased returns it received.
 */
export async function erasureNoticesOfSubject(executor: Executor, subjectId: string) {
  const [disclosed, told] = await Promise.all([
    disclosuresForSubject(executor, subjectId),
    recipientsToldOfErasure(executor, subjectId),
  ]);
  const recipientIds = [
    ...new Set([...disclosed.map((row) => row.recipientId), ...told.map((row) => row.recipientId)]),
  ];
  return recipientIds.sort().map((recipientId) => {
    const notices = told.filter((row) => row.recipientId === recipientId);
    const lastToldAt = notices.reduce<Date | null>(
      (latest, row) => (latest === null || row.toldAt > latest ? row.toldAt : latest),
      null,
    );
    return {
      recipientId,
      lastDisclosedAt: disclosed.find((row) => row.recipientId === recipientId)?.lastDisclosedAt ?? null,
      returnsTold: notices.length,
      lastToldAt,
    };
  });
}
