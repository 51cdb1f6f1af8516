import postgres from 'postgres';

// Any constant shared by every instance; distinct from the migration lock.
const retentionLockKey = 7_311_006;

export interface RetentionLock {
  release(): Promise<void>;
}

/**
 * Takes the retention advisory lock on a connection of its own: a session lock lives as long as its
 * connection, so a killed process frees it at once, and pool connections stay free for the batches.
 * Undefined when another instance holds it.
 */
export async function tryRetentionLock(databaseUrl: string): Promise<RetentionLock | undefined> {
  // The lock must outlive the longest run: postgres.js would otherwise close the connection after
  // max_lifetime (30 to 60 minutes by default, or PGMAX_LIFETIME) or idle_timeout (PGIDLE_TIMEOUT; 0
  // turns it off), freeing the lock while the run goes on, for a second runner to take.
  const connection = postgres(databaseUrl, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    onnotice: () => {},
    connection: { application_name: 'returnvault-retention-lock' },
  });
  try {
    const [row] = await connection`select pg_try_advisory_lock(${retentionLockKey}) as locked`;
    if (row?.locked === true) {
      return {
        release: async () => {
          await connection`select pg_advisory_unlock(${retentionLockKey})`.catch(() => {});
          await connection.end({ timeout: 5 });
        },
      };
    }
  } catch (error) {
    await connection.end({ timeout: 5 });
    throw error;
  }
  await connection.end({ timeout: 5 });
  return undefined;
}
