import { Buffer } from 'node:buffer';
import { type Column, getTableColumns, getTableName, type SQL, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/*
 * Rows of a table carried as JSON inside another query (json_agg), so one statement can return a
 * record together with its children. JSON has no bytes and no dates: bytea travels as base64 and
 * timestamps as ISO text, and `rowFromJson` turns them back into what drizzle's own select returns.
 */

function isBytea(column: { getSQLType(): string }): boolean {
  return column.getSQLType() === 'bytea';
}

/**
 * `"table"."column"` whatever the surrounding query: drizzle leaves a column unqualified in a select
 * from one table, where a correlated subquery would then resolve it against its own table.
 */
export function qualified(table: PgTable, column: Column): SQL {
  return sql`${sql.identifier(getTableName(table))}.${sql.identifier(column.name)}`;
}

/** json_build_object of every column of `table`, keyed by its property name. */
export function jsonRowOf(table: PgTable): SQL {
  const pairs = Object.entries(getTableColumns(table)).map(([property, column]) => {
    // Property names are identifiers of our own schema code, never input.
    const key = sql.raw(`'${property}'`);
    const value = qualified(table, column);
    return isBytea(column) ? sql`${key}, encode(${value}, 'base64')` : sql`${key}, ${value}`;
  });
  return sql`json_build_object(${sql.join(pairs, sql`, `)})`;
}

/** The row `jsonRowOf` encoded, typed as drizzle's select of the same table returns it. */
export function rowFromJson<T extends PgTable>(table: T, json: Record<string, unknown>): T['$inferSelect'] {
  const row: Record<string, unknown> = {};
  for (const [property, column] of Object.entries(getTableColumns(table))) {
    const value = json[property] ?? null;
    if (value === null) row[property] = null;
    else if (isBytea(column)) row[property] = Buffer.from(value as string, 'base64');
    else if (column.dataType === 'date') row[property] = new Date(value as string);
    else row[property] = value;
  }
  return row as T['$inferSelect'];
}
