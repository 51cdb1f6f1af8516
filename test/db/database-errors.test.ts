import { beforeAll, describe, expect, it } from 'vitest';
import { translateDatabaseError } from '../../src/db/database-errors';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('database errors', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  const refusal = (text: string) =>
    database.sql`select ${text}::timestamptz as at`.then(
      () => undefined,
      (error: unknown) => error,
    );

  it.each([
    ['an offset beyond ±15:59', '2025-01-01T00:00:00+16:00'],
    // How a Date past year 9999 is written: +010000-01-01T01:00:00.000Z.
    ['a date past year 9999', new Date('9999-12-31T23:00:00-02:00').toISOString()],
  ])('reads %s (22009) as a client error, not a 500', async (_case, text) => {
    const error = await refusal(text);
    expect(error).toBeDefined();
    expect(translateDatabaseError(error)).toMatchObject({ status: 400, code: 'validation_failed' });
  });
});
