import { type SQL, sql } from 'drizzle-orm';

/** A list of ids as one `uuid[]` parameter: one statement shape whatever the batch size. */
export function uuidArray(ids: readonly string[]): SQL {
  return sql`${sql.param(ids)}::uuid[]`;
}
