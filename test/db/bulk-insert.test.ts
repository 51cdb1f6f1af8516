import { bigint, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bulkInsert } from '../../src/db/bulk-insert';
import { bytea } from '../../src/db/bytea';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const bulkProbe = pgTable('bulk_probe', {
  id: uuid('id').primaryKey(),
  label: text('label'),
  payload: jsonb('payload'),
  secret: bytea('secret'),
  at: timestamp('at', { withTimezone: true, mode: 'date' }),
  amount: bigint('amount', { mode: 'number' }),
  note: text('note').default('from default'),
});

describe('bulkInsert', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    await database.sql`create table bulk_probe (id uuid primary key, label text, payload jsonb, secret bytea,
      at timestamptz, amount bigint, note text default 'from default')`;
  });

  it('stores every value as a one-row INSERT would, awkward text included, and leaves unlisted columns to their default', async () => {
    const awkward = 'tab\there\nnew line\\back slash\r\\N "quoted" é 🙂';
    const rows = [
      {
        id: '00000000-0000-4000-8000-000000000001',
        label: awkward,
        payload: { text: awkward, list: [1, null] },
        secret: Buffer.from([0, 9, 10, 92, 255]),
        at: new Date('2026-11-26T08:00:00.123Z'),
        amount: 9_007_199_254_740_991,
      },
      {
        id: '00000000-0000-4000-8000-000000000002',
        label: null,
        payload: null,
        secret: null,
        at: null,
        amount: null,
      },
    ];
    await database.sql.begin((tx) => bulkInsert(tx, bulkProbe, rows));
    const stored = await database.db.select().from(bulkProbe).orderBy(bulkProbe.id);
    expect(stored).toEqual([
      { ...rows[0], note: 'from default' },
      { ...rows[1], note: 'from default' },
    ]);
  });

  it('refuses rows of different shapes instead of guessing a default for some of them', async () => {
    await expect(
      database.sql.begin((tx) =>
        bulkInsert(tx, bulkProbe, [
          { id: '00000000-0000-4000-8000-000000000003', label: 'a' },
          { id: '00000000-0000-4000-8000-000000000004' },
        ]),
      ),
    ).rejects.toThrow(/lacks label/);
  });

  it('fails the transaction when PostgreSQL refuses a row', async () => {
    const id = '00000000-0000-4000-8000-000000000005';
    await expect(database.sql.begin((tx) => bulkInsert(tx, bulkProbe, [{ id }, { id }]))).rejects.toThrow(
      /duplicate key/,
    );
    expect(await database.sql`select 1 from bulk_probe where id = ${id}`).toHaveLength(0);
  });
});
