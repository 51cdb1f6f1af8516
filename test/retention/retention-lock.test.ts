import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { tryRetentionLock } from '../../src/retention/retention-lock';
import { createTestDatabase } from '../support/test-database';

describe('retention lock', () => {
  it('stays held on one connection past the connection lifetime postgres.js gives its pools', async () => {
    const database = await createTestDatabase();
    // The sessions holding the retention lock (key 7311006) in this test's database.
    const holders = () => database.sql<{ pid: number; backendStart: Date }[]>`
      select a.pid, a.backend_start as "backendStart" from pg_locks l join pg_stat_activity a using (pid)
      where l.locktype = 'advisory' and l.objid = 7311006 and l.granted
        and l.database = (select oid from pg_database where datname = current_database())
        and a.application_name = 'returnvault-retention-lock'`;

    // postgres.js reads its defaults from the environment: connections that close after one second,
    // in place of the 30 to 60 minutes a run can outlast.
    process.env.PGMAX_LIFETIME = '1';
    process.env.PGIDLE_TIMEOUT = '1';
    const lock = await tryRetentionLock(database.url).finally(() => {
      delete process.env.PGMAX_LIFETIME;
      delete process.env.PGIDLE_TIMEOUT;
    });
    expect(lock).toBeDefined();
    const [holder] = await holders();
    expect(holder).toBeDefined();

    await sleep(2500);
    expect(await holders()).toEqual([holder]);
    expect(await tryRetentionLock(database.url)).toBeUndefined();

    await lock!.release();
    expect(await holders()).toEqual([]);
    const again = await tryRetentionLock(database.url);
    expect(again).toBeDefined();
    await again!.release();
  });
});
