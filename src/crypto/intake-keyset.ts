import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { byteaText } from '../db/bytea';
import { clientOf } from '../db/database';
import { preparedStatement } from '../db/prepared-statement';
import { timeOrderedUuid } from '../db/time-ordered-uuid';
import { claimOpenRequests } from '../subject-requests/request-subject';
import type { EmailBlindIndex } from './blind-index';
import type { DataClass } from './data-classes';
import { loadSubjectKeyset, SubjectKeyset } from './field-cipher';
import { generateDataKey, type MasterKeyring } from './master-keyring';
import { storedKeysByClass, storedKeysJson } from './stored-keys-json';
import { findOrCreateSubject } from './subjects';

/**
 * What an intake of an e-mail never seen stores: a subject id chosen here, fresh data keys wrapped
 * for it before any statement is sent, and the keyset that encrypts under them.
 */
export interface NewSubject {
  classes: readonly DataClass[];
  keyset: SubjectKeyset;
  /** Whether older blind-index keys exist, whose digests of the e-mail also find its subject. */
  olderDigests: boolean;
  /** The placeholder values of `subjectIntakeCtes`. */
  values: Record<string, unknown>;
}

export function newSubject(
  index: EmailBlindIndex,
  keyring: MasterKeyring,
  email: string,
  classes: readonly DataClass[],
): NewSubject {
  const subjectId = timeOrderedUuid();
  const { digest, version } = index.compute(email);
  const fresh = new Map(classes.map((dataClass) => [dataClass, generateDataKey()]));
  const stored = new Map(
    classes.map((dataClass) => {
      const { wrapped, kekVersion } = keyring.wrap(fresh.get(dataClass)!, { subjectId, dataClass });
      return [dataClass, { wrappedKey: wrapped, kekVersion, generation: 1 }] as const;
    }),
  );
  const older = index.olderCandidates(email).map(byteaText);
  return {
    classes,
    keyset: new SubjectKeyset(subjectId, keyring, stored, fresh),
    olderDigests: older.length > 0,
    values: {
      ...(older.length > 0 ? { olderDigests: older } : {}),
      subjectId,
      emailDigest: byteaText(digest),
      emailIndexVersion: version,
      keyClasses: [...stored.keys()],
      wrappedKeys: [...stored.values()].map((key) => byteaText(key.wrappedKey)),
      kekVersions: [...stored.values()].map((key) => key.kekVersion),
    },
  };
}

/**
 * CTEs `found` (the subject of any of the e-mail's blind-index digests, held FOR KEY SHARE: an erasure
 * holding it FOR UPDATE is waited for, as in findOrCreateSubject), `created` (the new subject, unless
 * found or created first by a concurrent intake), `claimed_requests` (with older blind-index keys: the
 * open requests kept under them, subject-requests/request-subject.ts `claimOpenRequests`) and `created_keys` (its wrapped
 * keys). Placeholders
 * from `newSubject`; arrays travel as text so the statement's text is the same for any number of
 * key versions and data classes.
 */
export function subjectIntakeCtes(olderDigests: boolean): SQL {
  // With one blind-index key (the usual case) the match is an equality: PostgreSQL's generic plan of
  // `= any($array)` assumes ten elements, so it kept planning the statement anew on every execution
  // (about 0.55 ms of a create's 1.5 ms); an equality gets a generic plan after five.
  const match = olderDigests
    ? sql`subjects.email_index = any(${sql.placeholder('emailDigest')}::text::bytea
        || ${sql.placeholder('olderDigests')}::text[]::bytea[])`
    : sql`subjects.email_index = ${sql.placeholder('emailDigest')}::text::bytea`;
  return sql`found as (
    select subjects.id from subjects
    where ${match}
    for key share
  ), created as (
    insert into subjects (id, email_index, email_index_version)
    select ${sql.placeholder('subjectId')}::uuid, ${sql.placeholder('emailDigest')}::text::bytea,
      ${sql.placeholder('emailIndexVersion')}::text
    where not exists (select 1 from found)
    on conflict (email_index) do nothing
    returning id
  )${olderDigests ? sql`, claimed_requests as (${claimOpenRequests(sql`(select id from created)`, sql`${sql.placeholder('olderDigests')}::text[]::bytea[]`)})` : sql``}, created_keys as (
    insert into subject_data_keys (subject_id, data_class, wrapped_key, kek_version)
    select created.id, fresh.data_class, fresh.wrapped_key, fresh.kek_version
    from created, unnest(${sql.placeholder('keyClasses')}::text[],
      ${sql.placeholder('wrappedKeys')}::text[]::bytea[], ${sql.placeholder('kekVersions')}::text[])
      as fresh (data_class, wrapped_key, kek_version)
  )`;
}

interface IntakeSubjectRow {
  subject_id: string;
  created: boolean;
  keys: Record<string, unknown>[];
}

const buildIntakeStatement = (olderDigests: boolean) =>
  preparedStatement<IntakeSubjectRow>(sql`with ${subjectIntakeCtes(olderDigests)}
  select created.id as subject_id, true as created, '[]'::json as keys from created
  union all
  select found.id, false,
    ${storedKeysJson(sql`subject_data_keys where subject_data_keys.subject_id = found.id`)}
  from found`);
/** [one blind-index key, several] */
const intakeStatements = [buildIntakeStatement(false), buildIntakeStatement(true)] as const;

/**
 * The subject of an intake's e-mail with live keys for `classes`, in the caller's transaction.
 *
 * One statement serves the two common cases: an e-mail never seen gets a new subject and fresh keys,
 * and a known e-mail returns its stored keys. A known subject missing a live key of a class (erased,
 * or first IBAN), or an e-mail that a concurrent intake created first, takes the general path of
 * `findOrCreateSubject` and `loadSubjectKeyset`, which handle those cases. `candidate` (from
 * `newSubject` for this e-mail) is the subject stored if the e-mail is new; its classes are the ones
 * the keyset must have.
 */
export async function intakeKeyset(
  executor: Executor,
  index: EmailBlindIndex,
  keyring: MasterKeyring,
  email: string,
  candidate: NewSubject,
): Promise<SubjectKeyset> {
  const { classes } = candidate;
  const statement = intakeStatements[candidate.olderDigests ? 1 : 0];
  const [row] = await statement.run(clientOf(executor), candidate.values);
  if (row?.created) return candidate.keyset;
  if (row) {
    const stored = storedKeysByClass(row.keys);
    if (classes.every((dataClass) => stored.get(dataClass)?.wrappedKey)) {
      return new SubjectKeyset(row.subject_id, keyring, stored, new Map());
    }
  }
  const { subjectId } = row
    ? { subjectId: row.subject_id }
    : await findOrCreateSubject(executor, index, email);
  return loadSubjectKeyset(executor, keyring, subjectId, { create: [...classes] });
}
