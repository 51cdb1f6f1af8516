import { fillPlaceholders, getTableColumns, type SQL, sql } from 'drizzle-orm';
import { PgDialect, type PgTable } from 'drizzle-orm/pg-core';
import { byteaText } from './bytea';
import type { Sql, TransactionSql } from './database';

/*
 * Statements on a hot path, built once from drizzle SQL with placeholders and sent as postgres.js
 * prepared statements. drizzle rebuilds a query's text from its tree on every call, which cost about a
 * fifth of the service's CPU under create-return load; a drizzle `.prepare()`d query would avoid it but
 * is bound to the pool, not to a transaction's connection, and has no form for a raw statement.
 */

const dialect = new PgDialect();

export interface PreparedStatement<Row> {
  readonly text: string;
  /**
   * Runs on the pool or in a transaction. postgres.js names a prepared statement by its text and the
   * types it infers for the values (a Buffer is bytea, a Date timestamptz, a boolean bool, the rest
   * unknown), and each connection parses and plans each name once: values that may be null travel
   * as text (see rowPlaceholders), so one statement keeps one name.
   */
  run(client: Sql | TransactionSql, values: Record<string, unknown>): Promise<Row[]>;
}

export function preparedStatement<Row>(statement: SQL): PreparedStatement<Row> {
  const query = dialect.sqlToQuery(statement);
  return {
    text: query.sql,
    run: (client, values) =>
      client.unsafe(query.sql, fillPlaceholders(query.params, values) as never[], {
        prepare: true,
      }) as unknown as Promise<Row[]>,
  };
}

/** The values of a statement's placeholders from its parts; a name given twice is a mistake. */
export function placeholderValues(...parts: Record<string, unknown>[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const part of parts) {
    for (const [name, value] of Object.entries(part)) {
      if (name in values) throw new Error(`placeholder ${name} is given twice`);
      values[name] = value;
    }
  }
  return values;
}

/**
 * The columns of `table` named by `properties`, and a SELECT list of one placeholder per column
 * (`prefix` + the property), mapped by the column as drizzle maps an inserted value, sent as text and
 * cast to the column's type: `insert into t (<columns>) select <values> from ...` inserts one row conditionally.
 * `placeholders(row)` gives their values; a property the row leaves undefined must not be listed
 * (drizzle would send DEFAULT, this sends NULL).
 */
export function rowPlaceholders(table: PgTable, properties: readonly string[], prefix: string) {
  const all = getTableColumns(table);
  const columns = properties.map((property) => {
    const column = all[property];
    if (!column) throw new Error(`rowPlaceholders: no column for ${property}`);
    return column;
  });
  const encoded = (column: (typeof columns)[number]) => ({
    // drizzle's encoders map every value, null too (a jsonb column would get JSON null). Every value
    // travels as text, cast to its column's type as in src/db/bulk-insert.ts (bytes as hex, bytea's
    // input form), so a column that is sometimes null keeps one statement name.
    mapToDriverValue: (value: unknown) => {
      if (value == null) return null;
      const mapped = column.mapToDriverValue(value);
      return Buffer.isBuffer(mapped) ? byteaText(mapped) : mapped;
    },
  });
  return {
    columns: sql.join(
      columns.map((column) => sql.identifier(column.name)),
      sql`, `,
    ),
    values: sql.join(
      columns.map(
        (column, index) =>
          sql`${sql.param(sql.placeholder(prefix + properties[index]!), encoded(column))}::text::${sql.raw(column.getSQLType())}`,
      ),
      sql`, `,
    ),
    placeholders: (row: Record<string, unknown>) =>
      Object.fromEntries(properties.map((property) => [prefix + property, row[property]])),
  };
}
