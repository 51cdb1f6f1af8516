import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/audit/record-audit-event';
import { openDatabase } from '../../src/db/database';
import {
  markRetentionSession,
  retentionSessionName,
  retentionSessionSettings,
} from '../../src/retention/retention-session';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

async function sessionSettings(executor: Executor) {
  const [row] = (await executor.execute(sql`
    select current_setting('wal_compression') as "walCompression",
      current_setting('application_name') as "applicationName"`)) as unknown as {
    walCompression: string;
    applicationName: string;
  }[];
  return row!;
}

describe("a retention batch's session settings", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  it('turn WAL compression off for the batch transaction alone, for a role that may', async () => {
    const [role] = await database.sql<{ may: boolean }[]>`
      select rolsuper or has_parameter_privilege('wal_compression', 'SET') as may
      from pg_roles where rolname = current_user`;
    const settings = await retentionSessionSettings(database.db);
    expect(settings.uncompressedWal).toBe(role!.may);
    const before = await sessionSettings(database.db);
    const inBatch = await database.db.transaction(async (tx) => {
      await markRetentionSession(tx, settings);
      return sessionSettings(tx);
    });
    expect(inBatch).toEqual({
      walCompression: settings.uncompressedWal ? 'off' : before.walCompression,
      applicationName: retentionSessionName,
    });
    expect(await sessionSettings(database.db)).toEqual(before);
  });

  describe('for a role that may not change WAL compression', () => {
    const roleName = `retention_plain_${randomBytes(4).toString('hex')}`;
    afterAll(async () => {
      await database.sql.unsafe(`drop owned by ${roleName}; drop role if exists ${roleName}`);
    });

    it('keep the server setting, and the batch still runs', async () => {
      const password = randomBytes(12).toString('hex');
      await database.sql.unsafe(`create role ${roleName} login password '${password}'`);
      const url = new URL(database.url);
      url.username = roleName;
      url.password = password;
      const plain = openDatabase(url.toString(), { maxConnections: 1 });
      try {
        const settings = await retentionSessionSettings(plain.db);
        expect(settings).toEqual({ uncompressedWal: false });
        const before = await sessionSettings(plain.db);
        const inBatch = await plain.db.transaction(async (tx) => {
          await markRetentionSession(tx, settings);
          return sessionSettings(tx);
        });
        expect(inBatch).toEqual({
          walCompression: before.walCompression,
          applicationName: retentionSessionName,
        });
      } finally {
        await plain.close();
      }
    });
  });
});
