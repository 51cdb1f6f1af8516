import { type SQL, sql } from 'drizzle-orm';
import type { DataClass } from '../crypto/data-classes';
import { encryptedColumns } from '../crypto/encryption-map';
// Imported for their encryption-map declarations: every table below must have declared its columns.
import '../returns/returns.schema';
import '../subject-requests/subject-requests.schema';

/**
 * How each table holding encrypted columns is tied to a subject, so shredding a subject's class
 * nulls every ciphertext the destroyed key wrote. A table declared in the encryption map but absent
 * here makes erasure fail loudly instead of leaving ciphertext behind.
 */
const rowsOfSubject: Record<string, (subjectId: string) => SQL> = {
  returns: (subjectId) => sql`subject_id = ${subjectId}`,
  return_events: (subjectId) => sql`return_id in (select id from returns where subject_id = ${subjectId})`,
  subject_requests: (subjectId) => sql`subject_id = ${subjectId}`,
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

/** Every (table, columns, rows of the subject) triple to null when the subject's class key goes. */
export function subjectLocations(dataClass: DataClass, subjectId: string) {
  return [...columnsOfClass(dataClass)].map(([table, columns]) => {
    const where = rowsOfSubject[table];
    if (!where) {
      throw new UnmappedEncryptedTableError(
        `${table} holds ${dataClass} ciphertext but src/erasure does not know how it belongs to a subject`,
      );
    }
    return { table, columns, where: where(subjectId) };
  });
}
