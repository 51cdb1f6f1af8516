import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '../../src/crypto/subjects.schema';
import { clientOf, openDatabase } from '../../src/db/database';
import { placeholderValues, preparedStatement, rowPlaceholders } from '../../src/db/prepared-statement';
import { timeOrderedUuid } from '../../src/db/time-ordered-uuid';
import { findEvents } from '../../src/returns/return-repository';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * Statements through drizzle are prepared once per connection (the drizzle-orm patch in patches/):
 * unnamed, each query was parsed, described and planned again, in two round trips.
 */
describe('prepared statements', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  it('prepares a drizzle query once per connection, one statement for any number of ids', async () => {
    // One connection, so the statements it prepared are the ones pg_prepared_statements shows.
    const single = openDatabase(database.url, { maxConnections: 1 });
    try {
      for (const count of [1, 3, 1, 7]) {
        await findEvents(
          single.db,
          Array.from({ length: count }, () => randomUUID()),
        );
      }
      const prepared = await single.sql<{ statement: string }[]>`
        select statement from pg_prepared_statements
        where statement like '%from "return_events"%' and statement not like '%pg_prepared_statements%'`;
      expect(prepared).toHaveLength(1);
      expect(prepared[0]!.statement).toContain('= any(');
    } finally {
      await single.close();
    }
  });

  it('runs a statement built from drizzle SQL in the transaction it is given, or on the pool', async () => {
    const statement = preparedStatement(
      sql`insert into subjects (id) values (${sql.placeholder('id')}::uuid)`,
    );
    const id = timeOrderedUuid();
    const stored = async () =>
      (await database.sql`select count(*)::int as n from subjects where id = ${id}`)[0]!.n;
    await expect(
      database.db.transaction(async (tx) => {
        await statement.run(clientOf(tx), { id });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await stored()).toBe(0);
    await statement.run(clientOf(database.db), { id });
    expect(await stored()).toBe(1);
  });

  it('keeps one prepared statement for a row whose nullable columns are null or set', async () => {
    const single = openDatabase(database.url, { maxConnections: 1 });
    try {
      const row = rowPlaceholders(subjects, ['id', 'emailIndex', 'emailIndexVersion'], 'subject.');
      const statement = preparedStatement(
        sql`insert into ${subjects} (${row.columns}) select ${row.values} returning email_index`,
      );
      const digest = randomBytes(32);
      const inserted = await statement.run(
        clientOf(single.db),
        row.placeholders({ id: timeOrderedUuid(), emailIndex: digest, emailIndexVersion: 'v1' }),
      );
      await statement.run(
        clientOf(single.db),
        row.placeholders({ id: timeOrderedUuid(), emailIndex: null, emailIndexVersion: null }),
      );
      expect((inserted[0] as { email_index: Buffer }).email_index.equals(digest)).toBe(true);
      const prepared = await single.sql`
        select 1 from pg_prepared_statements where statement = ${statement.text}`;
      expect(prepared).toHaveLength(1);
    } finally {
      await single.close();
    }
  });

  it('refuses a placeholder given twice', () => {
    expect(() => placeholderValues({ id: 1 }, { other: 2 }, { id: 3 })).toThrow(/id is given twice/);
  });
});
