import type { Sql } from '../db/database';
import type { DataClass } from './data-classes';
import { EncryptionMapError } from './decryption-errors';

export interface EncryptedColumn {
  table: string;
  column: string;
  dataClass: DataClass;
}

/**
 * Every column that holds personal data, encrypted, with the data class whose key encrypts it.
 * Personal columns are `bytea` named `*_enc`; the start-up check below proves the schema has no other.
 */
export const encryptionMap: readonly EncryptedColumn[] = [];

/** The declared data class of a column, or an error: an undeclared column cannot be written. */
export function declaredDataClass(table: string, column: string): DataClass {
  const entry = encryptionMap.find((candidate) => candidate.table === table && candidate.column === column);
  if (!entry) throw new EncryptionMapError(`${table}.${column} is not declared in the encryption map`);
  return entry.dataClass;
}

/**
 * Start-up self-check: every `bytea` column named `*_enc` in the schema is declared, and, once every
 * migration is applied (`schemaComplete`), every declared column exists as `bytea`. The app refuses
 * to start otherwise.
 */
export async function verifyEncryptionMap(sql: Sql, options: { schemaComplete: boolean }): Promise<void> {
  const rows = await sql<{ table: string; column: string; dataType: string }[]>`
    select table_name as "table", column_name as "column", data_type as "dataType"
    from information_schema.columns
    where table_schema = current_schema()`;
  const key = (table: string, column: string) => `${table}.${column}`;
  const types = new Map(rows.map((row) => [key(row.table, row.column), row.dataType]));
  const declared = new Set(encryptionMap.map((entry) => key(entry.table, entry.column)));
  const undeclared = rows.filter(
    (row) =>
      row.dataType === 'bytea' && row.column.endsWith('_enc') && !declared.has(key(row.table, row.column)),
  );
  if (undeclared.length > 0) {
    throw new EncryptionMapError(
      `encrypted column(s) missing from the encryption map: ${undeclared.map((row) => key(row.table, row.column)).join(', ')}`,
    );
  }
  if (!options.schemaComplete) return;
  const missing = encryptionMap.filter((entry) => types.get(key(entry.table, entry.column)) !== 'bytea');
  if (missing.length > 0) {
    throw new EncryptionMapError(
      `encryption map column(s) absent from the schema or not bytea: ${missing.map((entry) => key(entry.table, entry.column)).join(', ')}`,
    );
  }
}
