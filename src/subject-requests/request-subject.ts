import { eq } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { subjects } from '../crypto/subjects.schema';
import type { SubjectRequestRow } from './subject-requests.schema';

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
