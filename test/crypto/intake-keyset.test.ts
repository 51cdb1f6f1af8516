import { beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/audit/record-audit-event';
import { EmailBlindIndex } from '../../src/crypto/blind-index';
import type { DataClass } from '../../src/crypto/data-classes';
import { destroySubjectKey } from '../../src/crypto/field-cipher';
import { intakeKeyset, newSubject } from '../../src/crypto/intake-keyset';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { findSubjectIdByEmail } from '../../src/crypto/subjects';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { testTable, versionedKey } from './crypto-fixtures';

const index = new EmailBlindIndex([versionedKey('v1')]);
const keyring = new MasterKeyring([versionedKey('v1')]);
/** The intake of `email` with keys for `classes`, as createReturn runs it. */
const intake = (executor: Executor, email: string, classes: DataClass[]) =>
  intakeKeyset(executor, index, keyring, email, newSubject(index, keyring, email, classes));
const ref = (rowId: string) => ({ table: testTable, column: 'name_enc', rowId });
const ibanRef = (rowId: string) => ({ table: testTable, column: 'iban_enc', rowId });

describe('intake keyset', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  const keyRows = (subjectId: string) =>
    database.sql<{ data_class: string; generation: number; live: boolean }[]>`
      select data_class, generation, wrapped_key is not null as live
      from subject_data_keys where subject_id = ${subjectId} order by data_class`;

  it('creates a subject with fresh keys for a new e-mail, found again by the blind index', async () => {
    const keys = await intake(database.db, 'nouveau@example.fr', ['contact', 'payment']);
    expect(await findSubjectIdByEmail(database.db, index, 'NOUVEAU@example.fr')).toBe(keys.subjectId);
    expect(await keyRows(keys.subjectId)).toEqual([
      { data_class: 'contact', generation: 1, live: true },
      { data_class: 'payment', generation: 1, live: true },
    ]);
    const sealed = keys.encrypt('contact', ref('r1'), 'Léa Nouveau');
    // A keyset loaded later unwraps the stored key: the fresh one was wrapped for this very subject.
    const again = await intake(database.db, 'nouveau@example.fr', ['contact']);
    expect(again.subjectId).toBe(keys.subjectId);
    expect(again.decrypt('contact', ref('r1'), sealed)).toBe('Léa Nouveau');
  });

  it('adds a class a known subject lacks, keeping the keys it has', async () => {
    const first = await intake(database.db, 'sans-iban@example.fr', ['contact']);
    const sealed = first.encrypt('contact', ref('r2'), 'Paul Sans');
    const second = await intake(database.db, 'sans-iban@example.fr', ['contact', 'payment']);
    expect(second.subjectId).toBe(first.subjectId);
    expect(second.decrypt('contact', ref('r2'), sealed)).toBe('Paul Sans');
    expect(second.decrypt('payment', ibanRef('r2'), second.encrypt('payment', ibanRef('r2'), 'FR76'))).toBe(
      'FR76',
    );
    expect((await keyRows(first.subjectId)).map((row) => row.data_class)).toEqual(['contact', 'payment']);
  });

  it('gives a destroyed class a new generation: what the old key wrote stays unreadable', async () => {
    const first = await intake(database.db, 'efface@example.fr', ['contact']);
    const sealed = first.encrypt('contact', ref('r3'), 'Anne Efface');
    await destroySubjectKey(database.db, first.subjectId, 'contact', {});
    const renewed = await intake(database.db, 'efface@example.fr', ['contact']);
    expect(renewed.subjectId).toBe(first.subjectId);
    expect(await keyRows(first.subjectId)).toEqual([{ data_class: 'contact', generation: 2, live: true }]);
    expect(() => renewed.decrypt('contact', ref('r3'), sealed)).toThrow(/destroyed/);
  });

  it('ends concurrent intakes of one new e-mail on one subject and one key per class', async () => {
    const keysets = await Promise.all(
      Array.from({ length: 8 }, () =>
        database.db.transaction((tx) => intake(tx, 'course@example.fr', ['contact', 'payment'])),
      ),
    );
    const ids = new Set(keysets.map((keys) => keys.subjectId));
    expect(ids.size).toBe(1);
    const [subjectId] = [...ids];
    expect(await keyRows(subjectId!)).toHaveLength(2);
    // Every keyset, winner or not, encrypts under the one stored key.
    const sealed = keysets[3]!.encrypt('contact', ref('r4'), 'Course');
    expect(keysets[6]!.decrypt('contact', ref('r4'), sealed)).toBe('Course');
  });
});
