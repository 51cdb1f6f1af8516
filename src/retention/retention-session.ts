import { sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { driverCodeOf } from '../db/database-errors';

/** The name a retention batch's session carries while it runs, so the foreground watch leaves it out. */
export const retentionSessionName = 'returnvault-retention';

/** How a run's batch transactions are set up, decided once per run. */
export interface RetentionSessionSettings {
  /**
   * The batch's WAL is written without compression. A sweep changes rows scattered over its tables,
   * and the first change of a page after a checkpoint logs the page whole: nearly every page it
   * touches. Compressing those images (pglz) cost more CPU than all the rest of the batch's work: a
   * minute of the 1,000,000-return sweep erased 211,000 returns with it, 277,000 without, for 2.3
   * times the WAL (1.8 GB a minute, which the disk takes). Requests keep the server's setting.
   */
  uncompressedWal: boolean;
}

/**
 * Settings this role may use: turning WAL compression off takes a superuser or
 * `GRANT SET ON PARAMETER wal_compression`; without it, batches keep the server's setting. Tried in a
 * transaction that changes nothing.
 */
export async function retentionSessionSettings(db: Executor): Promise<RetentionSessionSettings> {
  try {
    await db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('wal_compression', 'off', true)`);
    });
    return { uncompressedWal: true };
  } catch (error) {
    // insufficient_privilege; anything else (a lost database) is the run's failure, not a setting.
    if (driverCodeOf(error) !== '42501') throw error;
    return { uncompressedWal: false };
  }
}

/** Marks the batch transaction as retention's, with the run's settings, until the transaction ends. */
export async function markRetentionSession(tx: Executor, settings: RetentionSessionSettings): Promise<void> {
  const name = sql`set_config('application_name', ${retentionSessionName}, true)`;
  await tx.execute(
    settings.uncompressedWal
      ? sql`select ${name}, set_config('wal_compression', 'off', true)`
      : sql`select ${name}`,
  );
}
