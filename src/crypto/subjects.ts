import { inArray } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { EmailBlindIndex } from './blind-index';
import { subjects } from './subjects.schema';

/** The subject of an e-mail, found through the blind index of every key version; never a scan. */
export async function findSubjectIdByEmail(
  executor: Executor,
  index: EmailBlindIndex,
  email: string,
): Promise<string | undefined> {
  const [row] = await executor
    .select({ id: subjects.id })
    .from(subjects)
    .where(inArray(subjects.emailIndex, index.candidates(email)))
    .limit(1);
  return row?.id;
}

/**
 * The subject of an e-mail, created when none exists. Concurrent callers end on one subject: the
 * unique blind index makes the losing insert do nothing, and it then reads the winner's row.
 */
export async function findOrCreateSubject(
  executor: Executor,
  index: EmailBlindIndex,
  email: string,
): Promise<{ subjectId: string; created: boolean }> {
  const existing = await findSubjectIdByEmail(executor, index, email);
  if (existing) return { subjectId: existing, created: false };
  const { version, digest } = index.compute(email);
  const [inserted] = await executor
    .insert(subjects)
    .values({ emailIndex: digest, emailIndexVersion: version })
    .onConflictDoNothing({ target: subjects.emailIndex })
    .returning({ id: subjects.id });
  if (inserted) return { subjectId: inserted.id, created: true };
  const winner = await findSubjectIdByEmail(executor, index, email);
  if (!winner) throw new Error('the subject vanished between a conflicting insert and its read');
  return { subjectId: winner, created: false };
}
