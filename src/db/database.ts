import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;
/** drizzle over postgres.js; `$client` is the pool, for what drizzle does not do (src/db/bulk-insert.ts). */
export type Database = PostgresJsDatabase & { $client: Sql };

export interface DatabaseHandle {
  url: string;
  sql: Sql;
  db: Database;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  maxConnections?: number;
  applicationName?: string;
}

/** Opens the connection pool; created once per process and closed on shutdown. */
export function openDatabase(url: string, options: DatabaseOptions = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.maxConnections ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'returnvault' },
  });
  const db = drizzle(sql);
  return { url, sql, db, close: () => sql.end({ timeout: 5 }) };
}

/**
 * The postgres.js connection under a drizzle database (the pool) or transaction (its connection), for
 * statements prepared by src/db/prepared-statement.ts. drizzle keeps it on its session (drizzle-orm is
 * pinned; test/db/prepared-statements.test.ts checks that a transaction's statement runs in it).
 */
export function clientOf(executor: { _: { session: unknown } }): Sql | TransactionSql {
  return (executor._.session as { client: Sql | TransactionSql }).client;
}
