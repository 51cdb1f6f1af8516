import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../src/audit/audit-events.schema';
import {
  AadMismatchError,
  CorruptCiphertextError,
  DecryptionError,
  EncryptionMapError,
  KeyDestroyedError,
  KeyVersionUnavailableError,
} from '../../src/crypto/decryption-errors';
import {
  destroySubjectKey,
  type FieldRef,
  loadSubjectKeyset,
  loadSubjectKeysets,
  type SubjectKeyset,
} from '../../src/crypto/field-cipher';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { subjectDataKeys } from '../../src/crypto/subject-data-keys.schema';
import { subjects } from '../../src/crypto/subjects.schema';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { testTable, versionedKey } from './crypto-fixtures';

const v1 = versionedKey('v1');
const keyring = new MasterKeyring([v1]);
let database: TestDatabase;

async function newSubject(): Promise<string> {
  const [row] = await database.db
    .insert(subjects)
    .values({ emailIndex: Buffer.from(randomUUID()), emailIndexVersion: 'v1' })
    .returning({ id: subjects.id });
  return row!.id;
}

const ref = (column: string, rowId = 'row-1'): FieldRef => ({ table: testTable, column, rowId });
const anyText = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constant(''));

describe('field cipher', () => {
  let keys: SubjectKeyset;
  let otherKeys: SubjectKeyset;

  beforeAll(async () => {
    database = await createTestDatabase();
    keys = await loadSubjectKeyset(database.db, keyring, await newSubject(), {
      create: ['contact', 'payment'],
    });
    otherKeys = await loadSubjectKeyset(database.db, keyring, await newSubject(), { create: ['contact'] });
  });

  it('decrypts what it encrypted, for any string including unicode and empty', () => {
    fc.assert(
      fc.property(anyText, fc.uuid(), (text, rowId) => {
        const stored = keys.encrypt('contact', ref('name_enc', rowId), text);
        expect(keys.decrypt('contact', ref('name_enc', rowId), stored)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('reads back through a keyset loaded again from the database (unwrapped DEK)', async () => {
    const rowId = randomUUID();
    const stored = keys.encrypt('payment', ref('iban_enc', rowId), 'FR7630006000011234567890189');
    const reloaded = await loadSubjectKeyset(database.db, keyring, keys.subjectId);
    expect(reloaded.decrypt('payment', ref('iban_enc', rowId), stored)).toBe('FR7630006000011234567890189');
  });

  it('refuses a value moved to another row, column or subject with AadMismatchError', () => {
    fc.assert(
      fc.property(anyText, fc.uuid(), fc.uuid(), (text, rowId, otherRowId) => {
        fc.pre(rowId !== otherRowId);
        const stored = keys.encrypt('contact', ref('name_enc', rowId), text);
        expect(() => keys.decrypt('contact', ref('name_enc', otherRowId), stored)).toThrow(AadMismatchError);
        expect(() => keys.decrypt('contact', ref('phone_enc', rowId), stored)).toThrow(AadMismatchError);
        expect(() => keys.decrypt('payment', ref('iban_enc', rowId), stored)).toThrow(AadMismatchError);
        expect(() => otherKeys.decrypt('contact', ref('name_enc', rowId), stored)).toThrow(AadMismatchError);
      }),
      { numRuns: 200 },
    );
  });

  it('gives different ciphertexts for equal plaintexts', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const first = keys.encrypt('contact', ref('name_enc'), text)!;
        const second = keys.encrypt('contact', ref('name_enc'), text)!;
        expect(first.equals(second)).toBe(false);
      }),
    );
  });

  it('fails on any flipped bit with a typed error, never a wrong value', () => {
    fc.assert(
      fc.property(anyText, fc.nat(), fc.integer({ min: 0, max: 7 }), (text, position, bit) => {
        const stored = keys.encrypt('contact', ref('name_enc'), text)!;
        const tampered = Buffer.from(stored);
        const index = position % tampered.length;
        tampered[index] = tampered[index]! ^ (1 << bit);
        expect(() => keys.decrypt('contact', ref('name_enc'), tampered)).toThrow(DecryptionError);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps null as null and refuses truncated or foreign bytes as corrupt', () => {
    expect(keys.encrypt('contact', ref('name_enc'), null)).toBeNull();
    expect(keys.decrypt('contact', ref('name_enc'), null)).toBeNull();
    expect(() => keys.decrypt('contact', ref('name_enc'), Buffer.from('plain text'))).toThrow(
      CorruptCiphertextError,
    );
    const stored = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin')!;
    expect(() => keys.decrypt('contact', ref('name_enc'), stored.subarray(0, 20))).toThrow(
      CorruptCiphertextError,
    );
  });

  it('refuses columns that are not declared, or declared with another class', () => {
    expect(() => keys.encrypt('contact', { table: testTable, column: 'email', rowId: 'r' }, 'x')).toThrow(
      EncryptionMapError,
    );
    expect(() => keys.encrypt('payment', ref('name_enc'), 'x')).toThrow(EncryptionMapError);
  });

  it('refuses a header naming a later key generation as corrupt, not as erased', () => {
    const stored = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin')!;
    for (const generation of [2, 0x0101, 0xffff]) {
      const altered = Buffer.from(stored);
      altered.writeUInt16BE(generation, 2);
      // A read answers a destroyed key as null (erased): an altered value must fail instead.
      expect(() => keys.decrypt('contact', ref('name_enc'), altered)).toThrow(CorruptCiphertextError);
    }
  });

  it('puts the format, algorithm and key generation in a header and never the plaintext', () => {
    const stored = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin')!;
    expect([...stored.subarray(0, 4)]).toEqual([1, 1, 0, 1]);
    expect(stored.length).toBe(4 + 12 + 'Jeanne Martin'.length + 16);
    expect(stored.includes(Buffer.from('Jeanne Martin'))).toBe(false);
  });
});

describe('data keys', () => {
  beforeAll(async () => {
    database ??= await createTestDatabase();
  });

  it('crypto-shreds a class: KeyDestroyedError for that class only, audited, and a new key cannot read old values', async () => {
    const subjectId = await newSubject();
    const keys = await loadSubjectKeyset(database.db, keyring, subjectId, { create: ['contact', 'payment'] });
    const name = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    const iban = keys.encrypt('payment', ref('iban_enc'), 'FR7630006000011234567890189');

    expect(await destroySubjectKey(database.db, subjectId, 'contact', { requestId: 'req-1' })).toBe(true);
    expect(await destroySubjectKey(database.db, subjectId, 'contact', { requestId: 'req-2' })).toBe(false);

    const after = await loadSubjectKeyset(database.db, keyring, subjectId);
    expect(after.isDestroyed('contact')).toBe(true);
    expect(() => after.decrypt('contact', ref('name_enc'), name)).toThrow(KeyDestroyedError);
    expect(() => after.encrypt('contact', ref('name_enc'), 'x')).toThrow(KeyDestroyedError);
    expect(after.decrypt('payment', ref('iban_enc'), iban)).toBe('FR7630006000011234567890189');

    const destroyed = await database.db
      .select()
      .from(subjectDataKeys)
      .where(sql`${subjectDataKeys.subjectId} = ${subjectId} and ${subjectDataKeys.dataClass} = 'contact'`);
    // Nothing left to unwrap; the version it was wrapped under stays (no indexed column changes).
    expect(destroyed[0]).toMatchObject({ wrappedKey: null, kekVersion: 'v1' });
    expect(destroyed[0]!.destroyedAt).toBeInstanceOf(Date);

    const audits = await database.db.select().from(auditEvents).where(eq(auditEvents.action, 'key.destroy'));
    expect(audits.filter((event) => event.subjectRef === subjectId)).toHaveLength(2);

    // The same subject returns later: a new generation of the contact key, unable to read the old value.
    const revived = await loadSubjectKeyset(database.db, keyring, subjectId, { create: ['contact'] });
    expect(() => revived.decrypt('contact', ref('name_enc'), name)).toThrow(KeyDestroyedError);
    const fresh = revived.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    expect(revived.decrypt('contact', ref('name_enc'), fresh)).toBe('Jeanne Martin');
    expect(fresh!.readUInt16BE(2)).toBe(2);
  });

  it('answers KeyVersionUnavailableError when the wrapping master key is no longer configured', async () => {
    const subjectId = await newSubject();
    const keys = await loadSubjectKeyset(database.db, keyring, subjectId, { create: ['contact'] });
    const name = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    const retired = new MasterKeyring([versionedKey('v2')]);
    const later = await loadSubjectKeyset(database.db, retired, subjectId);
    expect(() => later.decrypt('contact', ref('name_enc'), name)).toThrow(KeyVersionUnavailableError);
  });

  it('refuses a wrapped key copied to another subject', async () => {
    const [first, second] = [await newSubject(), await newSubject()];
    await loadSubjectKeyset(database.db, keyring, first, { create: ['contact'] });
    const keys = await loadSubjectKeyset(database.db, keyring, second, { create: ['contact'] });
    const name = keys.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    await database.sql`
      update subject_data_keys set wrapped_key = (select wrapped_key from subject_data_keys
        where subject_id = ${first} and data_class = 'contact')
      where subject_id = ${second} and data_class = 'contact'`;
    const swapped = await loadSubjectKeyset(database.db, keyring, second);
    expect(() => swapped.decrypt('contact', ref('name_enc'), name)).toThrow(AadMismatchError);
  });

  it('creates one key per class when concurrent intakes load the same new subject', async () => {
    const subjectId = await newSubject();
    const keysets = await Promise.all(
      Array.from({ length: 8 }, () =>
        database.db.transaction((tx) =>
          loadSubjectKeyset(tx, keyring, subjectId, { create: ['contact', 'payment'] }),
        ),
      ),
    );
    const rows = await database.db
      .select()
      .from(subjectDataKeys)
      .where(eq(subjectDataKeys.subjectId, subjectId));
    expect(rows).toHaveLength(2);
    const stored = keysets[0]!.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    for (const keys of keysets)
      expect(keys.decrypt('contact', ref('name_enc'), stored)).toBe('Jeanne Martin');
  });

  it('stores no raw data key: a scan of subject_data_keys finds none of the unwrapped keys', async () => {
    const subjectIds = await Promise.all(Array.from({ length: 5 }, () => newSubject()));
    for (const subjectId of subjectIds) {
      await loadSubjectKeyset(database.db, keyring, subjectId, { create: ['contact', 'payment'] });
    }
    const rows = await database.db
      .select()
      .from(subjectDataKeys)
      .where(inArray(subjectDataKeys.subjectId, subjectIds));
    const dump = (await database.sql`select string_agg(t::text, '|') as dump from subject_data_keys t`)[0]!
      .dump as string;
    let checked = 0;
    for (const row of rows) {
      if (!row.wrappedKey) continue;
      const dek = keyring.unwrap(row.wrappedKey, row.kekVersion!, {
        subjectId: row.subjectId,
        dataClass: row.dataClass,
      });
      expect(dek).toHaveLength(32);
      expect(dump.includes(dek.toString('hex'))).toBe(false);
      expect(row.wrappedKey.includes(dek)).toBe(false);
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('loads many keysets in one call, creating only the missing keys', async () => {
    const known = await newSubject();
    const before = await loadSubjectKeyset(database.db, keyring, known, { create: ['contact'] });
    const name = before.encrypt('contact', ref('name_enc'), 'Jeanne Martin');
    const ids = [known, ...(await Promise.all(Array.from({ length: 40 }, () => newSubject())))];
    const keysets = await loadSubjectKeysets(database.db, keyring, ids, { create: ['contact', 'payment'] });
    expect(keysets.size).toBe(41);
    expect(keysets.get(known)!.decrypt('contact', ref('name_enc'), name)).toBe('Jeanne Martin');
    const [count] =
      await database.sql`select count(*)::int as n from subject_data_keys where subject_id = any(${ids}::uuid[])`;
    expect(count!.n).toBe(82);
    for (const id of ids) {
      const stored = keysets.get(id)!.encrypt('payment', ref('iban_enc', id), 'FR76');
      const reloaded = await loadSubjectKeyset(database.db, keyring, id);
      expect(reloaded.decrypt('payment', ref('iban_enc', id), stored)).toBe('FR76');
    }
  });
});
