import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmailBlindIndex, normalizeEmail } from '../../src/crypto/blind-index';
import { findOrCreateSubject, findOrCreateSubjects, findSubjectIdByEmail } from '../../src/crypto/subjects';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { versionedKey } from './crypto-fixtures';

const v1 = versionedKey('v1');
const index = new EmailBlindIndex([v1]);

describe('e-mail blind index', () => {
  it('is stable and ignores case, surrounding blanks and Unicode compatibility forms', () => {
    const digest = index.compute('jeanne.martin@example.fr').digest;
    expect(index.compute('jeanne.martin@example.fr').digest.equals(digest)).toBe(true);
    expect(index.compute('  Jeanne.Martin@EXAMPLE.fr\t').digest.equals(digest)).toBe(true);
    expect(index.compute('ｊｅａｎｎｅ.martin@example.fr').digest.equals(digest)).toBe(true);
    expect(index.compute('jeanne.martin@example.com').digest.equals(digest)).toBe(false);
    expect(normalizeEmail(' A@B.fr ')).toBe('a@b.fr');
  });

  it('depends on the key: another key gives another digest, and never the e-mail itself', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (email) => {
        const other = new EmailBlindIndex([versionedKey('v1')]);
        const { version, digest } = index.compute(email);
        expect(version).toBe('v1');
        expect(digest).toHaveLength(32);
        expect(other.compute(email).digest.equals(digest)).toBe(false);
        expect(digest.includes(Buffer.from(normalizeEmail(email)))).toBe(false);
      }),
    );
  });

  it('computes with the active (last) key and offers a candidate per version', () => {
    const rotated = new EmailBlindIndex([v1, versionedKey('v2')]);
    const { version, digest } = rotated.compute('a@b.fr');
    expect(version).toBe('v2');
    const candidates = rotated.candidates('a@b.fr');
    expect(candidates).toHaveLength(2);
    expect(candidates[0]!.equals(index.compute('a@b.fr').digest)).toBe(true);
    expect(candidates[1]!.equals(digest)).toBe(true);
  });
});

describe('subjects', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  it('maps one normalised e-mail to one subject and stores no e-mail', async () => {
    const first = await findOrCreateSubject(database.db, index, 'paul.durand@example.fr');
    const again = await findOrCreateSubject(database.db, index, ' Paul.Durand@Example.FR ');
    const other = await findOrCreateSubject(database.db, index, 'paula.durand@example.fr');
    expect(first.created).toBe(true);
    expect(again).toEqual({ subjectId: first.subjectId, created: false });
    expect(other.subjectId).not.toBe(first.subjectId);
    expect(await findSubjectIdByEmail(database.db, index, 'PAUL.DURAND@example.fr')).toBe(first.subjectId);
    expect(await findSubjectIdByEmail(database.db, index, 'nobody@example.fr')).toBeUndefined();
    const [dump] = await database.sql`select string_agg(t::text, '|') as text from subjects t`;
    expect(dump!.text).not.toContain('durand');
  });

  it('creates exactly one subject when many intakes of one new e-mail race', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, n) =>
        database.db.transaction((tx) =>
          findOrCreateSubject(tx, index, n % 2 ? 'race@example.fr' : 'RACE@example.fr'),
        ),
      ),
    );
    expect(new Set(results.map((result) => result.subjectId)).size).toBe(1);
    expect(results.filter((result) => result.created)).toHaveLength(1);
    const [count] =
      await database.sql`select count(*)::int as n from subjects where email_index = ${index.compute('race@example.fr').digest}`;
    expect(count!.n).toBe(1);
  });

  it('still finds subjects indexed under an older blind-index key after a new one is added', async () => {
    const { subjectId } = await findOrCreateSubject(database.db, index, 'old.key@example.fr');
    const rotated = new EmailBlindIndex([v1, versionedKey('v2')]);
    expect(await findSubjectIdByEmail(database.db, rotated, 'old.key@example.fr')).toBe(subjectId);
    expect(await findOrCreateSubject(database.db, rotated, 'old.key@example.fr')).toEqual({
      subjectId,
      created: false,
    });
    const created = await findOrCreateSubject(database.db, rotated, 'new.key@example.fr');
    const [row] =
      await database.sql`select email_index_version from subjects where id = ${created.subjectId}`;
    expect(row!.email_index_version).toBe('v2');
  });

  it('finds or creates many subjects in one call, keyed by normalised e-mail', async () => {
    const existing = await findOrCreateSubject(database.db, index, 'bulk.0@example.fr');
    const emails = Array.from({ length: 300 }, (_, n) => `Bulk.${n}@Example.fr`);
    const result = await findOrCreateSubjects(database.db, index, [...emails, 'bulk.1@example.fr ']);
    expect(result.size).toBe(300);
    expect(result.get('bulk.0@example.fr')).toEqual({ subjectId: existing.subjectId, created: false });
    expect([...result.values()].filter((entry) => entry.created)).toHaveLength(299);
    for (const [email, { subjectId }] of result) {
      expect(await findSubjectIdByEmail(database.db, index, email)).toBe(subjectId);
    }
    const again = await findOrCreateSubjects(database.db, index, emails);
    expect([...again.values()].every((entry) => !entry.created)).toBe(true);
  });
});
