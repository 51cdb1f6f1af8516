import { fillPlaceholders, getTableColumns, type SQL, sql } from 'drizzle-orm';
import { PgDialect, type PgTable } from 'drizzle-orm/pg-core';
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
  /** Runs on the pool or in a transaction; each connection parses and plans the text once. */
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

/**
 * The columns of `table` named by `properties`, and a SELECT list of one placeholder per column (named
 * as the property, mapped by the column as drizzle maps an inserted value, cast to the column's type):
 * `insert into t (<columns>) select <values> where ...` inserts one row conditionally.
 */
export function rowPlaceholders(
  table: PgTable,
  properties: readonly string[],
): { columns: SQL; values: SQL } {
  const all = getTableColumns(table);
  const columns = properties.map((property) => {
    const column = all[property];
    if (!column) throw new Error(`rowPlaceholders: no column for ${property}`);
    return column;
  });
  return {
    columns: sql.join(
      columns.map((column) => sql.identifier(column.name)),
      sql`, `,
    ),
    values: sql.join(
      columns.map(
        (column, index) =>
          sql`${sql.param(sql.placeholder(properties[index]!), {
            // drizzle's encoders map every value, null too (a jsonb column would get JSON null).
            mapToDriverValue: (value: unknown) => (value == null ? null : column.mapToDriverValue(value)),
          })}::${sql.raw(column.getSQLType())}`,
      ),
      sql`, `,
    ),
  };
}
