import { type SQL, sql } from 'drizzle-orm';

/**
 * A Date as a timestamptz parameter in raw SQL: outside a column comparison drizzle passes values
 * as they are, and the driver cannot type a bare Date parameter.
 */
export function timestampParam(date: Date): SQL {
  return sql`${date.toISOString()}::timestamptz`;
}
