import { type SQL, sql } from 'drizzle-orm';
import type { DataClass } from '../crypto/data-classes';
import { encryptedColumns } from '../crypto/encryption-map';
import { uuidArray } from '../db/array-param';
// Imported for their encryption-map declarations: every table below must have declared its columns.
import '../legal-holds/legal-holds.schema';
import '../returns/returns.schema';
import '../subject-requests/subject-requests.schema';

/**
 * How each table holding encrypted columns is tied to a subject, so shredding a subject's class
 * nulls every ciphertext the destroyed key wrote. A table declared in the encryption map but absent
 * here makes erasure fail loudly instead of leaving ciphertext behind.
 */
const rowsOfSubjects: Record<string, (subjectIds: SQL, nulledReturnIds: SQL) => SQL> = {
  returns: (subjectIds, nulled) => sql`subject_id = any(${subjectIds}) and id <> all(${nulled})`,
  // An array, not IN (subquery): a semi-join could scan every event; this probes the events index.
  return_events: (subjectIds, nulled) =>
    sql`return_id = any(array(select id from returns where subject_id = any(${subjectIds}) and id <> all(${nulled})))`,
  subject_requests: (subjectIds) => sql`subject_id = any(${subjectIds})`,
  // A hold names its subject, or one return of it.
  legal_holds: (subjectIds) =>
    sql`(subject_id = any(${subjectIds}) or return_id = any(array(select id from returns where subject_id = any(${subjectIds}))))`,
};

export class UnmappedEncryptedTableError extends Error {
  override name = 'UnmappedEncryptedTableError';
}

/** The encrypted columns of a class, grouped by table. */
export function columnsOfClass(dataClass: DataClass, table?: string): Map<string, string[]> {
  const byTable = new Map<string, string[]>();
  for (const entry of encryptedColumns()) {
    if (entry.dataClass !== dataClass || (table !== undefined && entry.table !== table)) continue;
    byTable.set(entry.table, [...(byTable.get(entry.table) ?? []), entry.column]);
  }
  return byTable;
}

/** `col_a = null, col_b = null` for an UPDATE. */
export function nullAssignments(columns: string[]): SQL {
  return sql.join(
    columns.map((column) => sql`${sql.identifier(column)} = null`),
    sql`, `,
  );
}

/** `(col_a is not null or col_b is not null)`: the row still holds data of the class. */
export function holdsAny(columns: string[], alias?: string): SQL {
  if (columns.length === 0) return sql`false`;
  const qualified = (column: string) =>
    alias === undefined ? sql.identifier(column) : sql`${sql.identifier(alias)}.${sql.identifier(column)}`;
  return sql`(${sql.join(
    columns.map((column) => sql`${qualified(column)} is not null`),
    sql` or `,
  )})`;
}

/**
 * Every (table, columns, rows) triple to null when these subjects' class keys go; the rows are those
 * of the subjects that still hold a value of the class. `nulledReturnIds`: returns whose class this
 * transaction already nulled with their events (a retention batch), which need no second look.
 */
export function subjectLocations(dataClass: DataClass, subjectIds: string[], nulledReturnIds: string[] = []) {
  return [...columnsOfClass(dataClass)].map(([table, columns]) => {
    const where = rowsOfSubjects[table];
    if (!where) {
      throw new UnmappedEncryptedTableError(
        `${table} holds ${dataClass} ciphertext but src/erasure does not know how it belongs to a subject`,
      );
    }
    const rows = where(uuidArray(subjectIds), uuidArray(nulledReturnIds));
    return { table, columns, where: sql`${rows} and ${holdsAny(columns)}` };
  });
}
