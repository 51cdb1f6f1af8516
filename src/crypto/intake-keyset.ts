import { inArray, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { timeOrderedUuid } from '../db/time-ordered-uuid';
import type { EmailBlindIndex } from './blind-index';
import type { DataClass } from './data-classes';
import { loadSubjectKeyset, SubjectKeyset } from './field-cipher';
import { generateDataKey, type MasterKeyring } from './master-keyring';
import { storedKeysByClass, storedKeysJson } from './stored-keys-json';
import { findOrCreateSubject } from './subjects';
import { subjects } from './subjects.schema';

interface IntakeSubjectRow {
  subject_id: string;
  created: boolean;
  keys: Record<string, unknown>[];
}

/**
 * The subject of an intake's e-mail with live keys for `classes`, in the caller's transaction.
 *
 * One statement serves the two common cases: an e-mail never seen gets a new subject and fresh keys
 * (the subject id is chosen here, so the keys can be wrapped for it before the statement is sent),
 * and a known e-mail returns its stored keys. A known subject missing a live key of a class (erased,
 * or first IBAN), or an e-mail that a concurrent intake created first, takes the general path of
 * `findOrCreateSubject` and `loadSubjectKeyset`, which handle those cases.
 */
export async function intakeKeyset(
  executor: Executor,
  index: EmailBlindIndex,
  keyring: MasterKeyring,
  email: string,
  classes: readonly DataClass[],
): Promise<SubjectKeyset> {
  const newId = timeOrderedUuid();
  const { digest, version } = index.compute(email);
  const fresh = new Map(classes.map((dataClass) => [dataClass, generateDataKey()]));
  const wrappedKeys = classes.map((dataClass) => {
    const { wrapped, kekVersion } = keyring.wrap(fresh.get(dataClass)!, { subjectId: newId, dataClass });
    return sql`(${dataClass}, ${wrapped}::bytea, ${kekVersion})`;
  });
  // FOR KEY SHARE: an erasure holding the subject (FOR UPDATE) is waited for, as in findOrCreateSubject.
  const rows = (await executor.execute(
    sql`with found as (
        select ${subjects.id} from ${subjects}
        where ${inArray(subjects.emailIndex, index.candidates(email))}
        for key share
      ), created as (
        insert into subjects (id, email_index, email_index_version)
        select ${newId}::uuid, ${digest}::bytea, ${version}
        where not exists (select 1 from found)
        on conflict (email_index) do nothing
        returning id
      ), created_keys as (
        insert into subject_data_keys (subject_id, data_class, wrapped_key, kek_version)
        select created.id, fresh.data_class, fresh.wrapped_key, fresh.kek_version
        from created, (values ${sql.join(wrappedKeys, sql`, `)}) as fresh (data_class, wrapped_key, kek_version)
        returning *
      )
      select created.id as subject_id, true as created,
        ${storedKeysJson(sql`created_keys as subject_data_keys`)} as keys
      from created
      union all
      select found.id, false,
        ${storedKeysJson(sql`subject_data_keys where subject_data_keys.subject_id = found.id`)}
      from found`,
  )) as unknown as IntakeSubjectRow[];
  const [row] = rows;
  if (row) {
    const stored = storedKeysByClass(row.keys);
    if (classes.every((dataClass) => stored.get(dataClass)?.wrappedKey)) {
      return new SubjectKeyset(row.subject_id, keyring, stored, row.created ? fresh : new Map());
    }
  }
  const { subjectId } = row
    ? { subjectId: row.subject_id }
    : await findOrCreateSubject(executor, index, email);
  return loadSubjectKeyset(executor, keyring, subjectId, { create: [...classes] });
}
