import { eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { arrayParam } from '../db/array-param';
import { byteaText } from '../db/bytea';
import { claimOpenRequests } from '../subject-requests/request-subject';
import { type EmailBlindIndex, normalizeEmail } from './blind-index';
import { subjects } from './subjects.schema';

/**
 * Locks a subject row until the transaction ends: `update` to change what it holds (an erasure, a
 * restriction), `key share` to write data under its keys while no erasure destroys them meanwhile.
 */
export async function lockSubject(executor: Executor, subjectId: string, strength: 'update' | 'key share') {
  await executor.select({ id: subjects.id }).from(subjects).where(eq(subjects.id, subjectId)).for(strength);
}

/** The subject of an e-mail, found through the blind index of every key version; never a scan. */
export async function findSubjectIdByEmail(
  executor: Executor,
  index: EmailBlindIndex,
  email: string,
  options: { lock?: boolean } = {},
): Promise<string | undefined> {
  return (await findSubjectIds(executor, index, [email], options)).get(normalizeEmail(email));
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
  return (await findOrCreateSubjects(executor, index, [email])).get(normalizeEmail(email))!;
}

/** Most e-mails one call takes (PostgreSQL's 65,535 parameters, a digest per key version each). */
export const maxSubjectBatch = 5000;

/**
 * Subject ids by normalised e-mail, for the e-mails that have one. `lock` takes FOR KEY SHARE: it
 * waits for an erasure holding the subject (FOR UPDATE) and, once that commits, no longer finds the
 * erased subject, so an intake racing an erasure starts a new subject instead of failing.
 */
async function findSubjectIds(
  executor: Executor,
  index: EmailBlindIndex,
  emails: readonly string[],
  options: { lock?: boolean } = {},
): Promise<Map<string, string>> {
  const byDigest = new Map<string, string>();
  for (const email of new Set(emails.map(normalizeEmail))) {
    for (const digest of index.candidates(email)) byDigest.set(digest.toString('hex'), email);
  }
  if (byDigest.size === 0) return new Map();
  const query = executor
    .select({ id: subjects.id, emailIndex: subjects.emailIndex })
    .from(subjects)
    .where(
      inArray(
        subjects.emailIndex,
        [...byDigest.keys()].map((hex) => Buffer.from(hex, 'hex')),
      ),
    );
  const rows = options.lock ? await query.for('key share') : await query;
  return new Map(rows.map((row) => [byDigest.get(row.emailIndex!.toString('hex'))!, row.id]));
}

/** `findOrCreateSubject` for many e-mails in at most three statements; keyed by normalised e-mail. */
export async function findOrCreateSubjects(
  executor: Executor,
  index: EmailBlindIndex,
  emails: readonly string[],
): Promise<Map<string, { subjectId: string; created: boolean }>> {
  const normalized = [...new Set(emails.map(normalizeEmail))];
  if (normalized.length > maxSubjectBatch)
    throw new RangeError(`at most ${maxSubjectBatch} e-mails per call`);
  const found = await findSubjectIds(executor, index, normalized, { lock: true });
  const result = new Map([...found].map(([email, subjectId]) => [email, { subjectId, created: false }]));
  const missing = normalized.filter((email) => !found.has(email));
  if (missing.length === 0) return result;
  const computed = missing.map((email) => ({ email, ...index.compute(email) }));
  const inserted = await executor
    .insert(subjects)
    .values(computed.map(({ digest, version }) => ({ emailIndex: digest, emailIndexVersion: version })))
    .onConflictDoNothing({ target: subjects.emailIndex })
    .returning({ id: subjects.id, emailIndex: subjects.emailIndex });
  const emailOf = new Map(computed.map(({ email, digest }) => [digest.toString('hex'), email]));
  for (const row of inserted) {
    const email = emailOf.get(row.emailIndex!.toString('hex'))!;
    result.set(email, { subjectId: row.id, created: true });
    const older = index.olderCandidates(email);
    if (older.length > 0) {
      const digests = sql`${arrayParam(older.map(byteaText), 'text')}::bytea[]`;
      await executor.execute(claimOpenRequests(sql`${row.id}::uuid`, digests));
    }
  }
  // Lost races: a concurrent transaction committed the same e-mail first.
  const raced = missing.filter((email) => !result.has(email));
  if (raced.length > 0) {
    for (const [email, subjectId] of await findSubjectIds(executor, index, raced, { lock: true })) {
      result.set(email, { subjectId, created: false });
    }
  }
  if (result.size !== normalized.length)
    throw new Error('a subject vanished between a conflicting insert and its read');
  return result;
}
