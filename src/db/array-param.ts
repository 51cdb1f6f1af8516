import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';

/**
 * A list of values as one array parameter of SQL type `type[]`: one statement shape whatever the
 * number of values, so each connection prepares it once.
 */
export function arrayParam(values: readonly unknown[], type: 'uuid' | 'text' | 'float8'): SQL {
  return sql`${sql.param(values)}::${sql.raw(type)}[]`;
}

/** A list of ids as one `uuid[]` parameter. */
export function uuidArray(ids: readonly string[]): SQL {
  return arrayParam(ids, 'uuid');
}

/**
 * `column` is one of `ids`. Unlike drizzle's `inArray`, which sends one parameter per id, the text of
 * the statement is the same for any number of ids, so each connection prepares it once instead of
 * once per batch size.
 */
export function isAnyOf(column: SQLWrapper, ids: readonly string[]): SQL {
  return sql`${column} = any(${uuidArray(ids)})`;
}
