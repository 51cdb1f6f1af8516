import { getTableColumns, getTableName } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { byteaText } from './bytea';
import type { TransactionSql } from './database';

/*
 * Bulk inserts as `insert ... select * from unnest($1, $2, ...)`: one array parameter per column
 * whatever the number of rows, instead of a multi-row VALUES list with a parameter per value, which
 * costs drizzle, postgres.js and PostgreSQL a lot to build, send and parse at seeding sizes. Every value
 * travels as text and PostgreSQL casts it to the column's type; defaults and triggers apply as for
 * any INSERT, and an error fails the statement like any other.
 */

const textOid = 25;

/** `value` as PostgreSQL reads a value of SQL type `type` from text. */
function asText(type: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (type === 'bytea') return byteaText(value as Buffer);
  if (type === 'json' || type === 'jsonb') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/**
 * One bulk insert ready to send: the statement and one text array per column. Plain data, so a worker
 * thread can prepare it (the seed does) and the thread holding the connection only sends it.
 */
export interface PreparedBulkInsert {
  statement: string;
  columns: (string | null)[][];
}

/**
 * The insert of `rows` into `table`. The columns are the rows' properties, and every row must have all
 * of them: a missing one would need its column default for some rows and not others.
 */
export function prepareBulkInsert<T extends PgTable>(
  table: T,
  rows: readonly T['$inferInsert'][],
): PreparedBulkInsert {
  const tableName: string = getTableName(table);
  const columns = getTableColumns(table);
  const properties = [...new Set(rows.flatMap((row) => Object.keys(row)))].filter(
    (property) => property in columns,
  );
  if (rows.length > 0 && properties.length === 0)
    throw new Error(`bulkInsert: no column of ${tableName} given`);
  for (const row of rows) {
    const missing = properties.find((property) => !(property in row));
    if (missing) throw new Error(`bulkInsert: a row of ${tableName} lacks ${missing}`);
  }
  const names = properties.map((property) => `"${columns[property]!.name}"`);
  // Once per column, not per value (getSQLType() of some columns builds its string on each call).
  const types = properties.map((property) => columns[property]!.getSQLType());
  const casts = types.map((type, index) => `$${index + 1}::text[]::${type}[]`);
  return {
    // Names and types come from our schema code, never from input; the values are parameters.
    statement: `insert into "${tableName}" (${names.join(', ')}) select * from unnest(${casts.join(', ')})`,
    columns: properties.map((property, index) =>
      rows.map((row) => asText(types[index]!, (row as Record<string, unknown>)[property])),
    ),
  };
}

/** Sends a prepared bulk insert on `sql` (a transaction, so the rows commit with it). */
export async function insertPrepared(sql: TransactionSql, prepared: PreparedBulkInsert): Promise<void> {
  if ((prepared.columns[0]?.length ?? 0) === 0) return; // no rows
  await sql.unsafe(
    prepared.statement,
    prepared.columns.map((values) => sql.array(values, textOid)),
  );
}

/** Inserts `rows` into `table` in one statement on `sql` (see prepareBulkInsert). */
export async function bulkInsert<T extends PgTable>(
  sql: TransactionSql,
  table: T,
  rows: readonly T['$inferInsert'][],
): Promise<void> {
  await insertPrepared(sql, prepareBulkInsert(table, rows));
}
