import { eq, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { subjects } from '../crypto/subjects.schema';
import { openStatuses, type SubjectRequestRow, subjectRequests } from './subject-requests.schema';

/**
 * The subject of a request: its id, or, for a request received before any data existed on the
 * e-mail, the subject its kept blind-index digest finds now.
 */
export async function resolveSubject(tx: Executor, row: SubjectRequestRow): Promise<string | null> {
  if (row.subjectId) return row.subjectId;
  if (!row.emailIndex) return null;
  const [subject] = await tx
    .select({ id: subjects.id })
    .from(subjects)
    .where(eq(subjects.emailIndex, row.emailIndex));
  return subject?.id ?? null;
}

/** Constants, written in the statement's text: it runs inside prepared intake statements. */
const openStatusList = sql.raw(openStatuses.map((status) => `'${status}'`).join(', '));

/**
 * A request received while nothing was held on an e-mail keeps only the e-mail's digest, under the
 * blind-index key of the day; its execution finds the subject by that digest. A subject created after
 * the key changed is stored under the new key, which that digest never matches: its creation, which
 * knows the e-mail's digests under the older keys, makes the requests still open its own, as their
 * execution would (crypto/intake-keyset.ts and crypto/subjects.ts call this).
 */
export function claimOpenRequests(subjectId: SQL, olderDigests: SQL): SQL {
  return sql`update ${subjectRequests} set subject_id = ${subjectId}, email_index = null,
      email_index_version = null, updated_at = now()
    where ${subjectId} is not null and subject_id is null
      and status in (${openStatusList}) and email_index = any(${olderDigests})`;
}
