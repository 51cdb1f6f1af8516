import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createForegroundWatch, type ForegroundWatch } from '../../src/retention/foreground-activity';
import { markRetentionSession } from '../../src/retention/retention-session';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { openOtherTransaction } from './retention-fixtures';

/** Settles to 'quiet' when the watch lets a lane go, or 'waiting' if it still holds it after `ms`. */
async function within(ms: number, wait: Promise<void>) {
  const timeout = new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), ms));
  return Promise.race([wait.then(() => 'quiet' as const), timeout]);
}

/** What a lane asking the watch now sees within a second. */
function laneAsks(watch: ForegroundWatch, goOn: () => boolean) {
  return within(1_000, watch.untilQuiet(goOn));
}

describe("retention's watch on other work in the database", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  it('holds extra lanes while another session is inside a transaction, and lets them go after', async () => {
    const watch = createForegroundWatch(database.db, { holdMs: 300, sampleMs: 20 });
    expect(await laneAsks(watch, () => false)).toBe('quiet');

    const other = await openOtherTransaction(database);
    // A sample is reused for `sampleMs`: on a fast machine the transaction opens within that time of
    // the quiet sample above, which would then answer for it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    try {
      const waiting = watch.untilQuiet(() => false);
      expect(await within(600, waiting)).toBe('waiting');
      await other.end();
      expect(await within(2_000, waiting)).toBe('quiet');
    } finally {
      await other.end();
    }
  });

  it("does not count retention's own batches, and never holds a lane told to go on", async () => {
    const watch = createForegroundWatch(database.db, { holdMs: 300, sampleMs: 20 });
    await database.db.transaction(async (tx) => {
      await markRetentionSession(tx, { uncompressedWal: false });
      expect(await laneAsks(watch, () => false)).toBe('quiet');
    });
    const other = await openOtherTransaction(database);
    try {
      expect(await laneAsks(watch, () => true)).toBe('quiet');
    } finally {
      await other.end();
    }
  });

  it('sees the application name retention marks its batches with only inside the batch', async () => {
    const name = async () =>
      (
        (await database.db.execute(sql`select current_setting('application_name') as name`)) as unknown as {
          name: string;
        }[]
      )[0]!.name;
    const outside = await name();
    await database.db.transaction(async (tx) => {
      await markRetentionSession(tx, { uncompressedWal: false });
      const [row] = (await tx.execute(
        sql`select current_setting('application_name') as name`,
      )) as unknown as {
        name: string;
      }[];
      expect(row!.name).toBe('returnvault-retention');
    });
    expect(await name()).toBe(outside);
  });
});
