import { readFileSync } from 'node:fs';
import path from 'node:path';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { projectRoot } from '../config/project-root';
import type { DatabaseHandle, Sql } from './database';

export const migrationsFolder = path.join(projectRoot(), 'migrations');

// Serialises concurrent `migrate` runs of several instances; any constant shared by all of them works.
const migrationLockKey = 7_311_001;

/** Applies every pending migration, one instance at a time. */
export async function applyMigrations(handle: DatabaseHandle): Promise<void> {
  // The lock lives on its own connection, so even a pool of one is free to run the migrations.
  const lock = postgres(handle.url, { max: 1, onnotice: () => {} });
  try {
    await lock`select pg_advisory_lock(${migrationLockKey})`;
    await migrate(handle.db, { migrationsFolder });
  } finally {
    await lock.end({ timeout: 5 });
  }
}

function expectedMigrationCount(): number {
  const journal = JSON.parse(readFileSync(path.join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

/** Number of migrations in the code that the database has not applied yet. */
export async function pendingMigrationCount(sql: Sql): Promise<number> {
  const [table] = await sql`select to_regclass('drizzle.__drizzle_migrations') as name`;
  if (!table?.name) return expectedMigrationCount();
  const [row] = await sql`select count(*)::int as applied from drizzle.__drizzle_migrations`;
  return Math.max(0, expectedMigrationCount() - (row?.applied as number));
}
