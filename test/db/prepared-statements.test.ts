import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database';
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
});
