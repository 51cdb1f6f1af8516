import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database';

export type TestDatabase = DatabaseHandle;

/**
 * A fresh database for one test file, cloned from the migrated template so files run in parallel
 * without seeing each other's rows; with `migrated: false`, an empty one, as on a first deployment
 * before `returnvault migrate`. Dropped when the file ends.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const migrated = options.migrated ?? true;
  const adminUrl = inject('adminDatabaseUrl');
  const name = `returnvault_${migrated ? 'test' : 'unmigrated'}_${randomBytes(6).toString('hex')}`;
  const admin = openDatabase(adminUrl, { maxConnections: 1 });
  await admin.sql.unsafe(
    `create database ${name}${migrated ? ` template ${inject('templateDatabase')}` : ''}`,
  );
  await admin.close();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = openDatabase(url.toString(), { maxConnections: 10 });
  afterAll(async () => {
    await handle.close();
    const cleanup = openDatabase(adminUrl, { maxConnections: 1 });
    await cleanup.sql.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await cleanup.close();
  });
  return handle;
}
