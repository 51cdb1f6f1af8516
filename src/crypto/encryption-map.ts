import type { Sql } from '../db/database';
import type { DataClass } from './data-classes';
import { EncryptionMapError } from './decryption-errors';

export interface EncryptedColumn {
  table: string;
  column: string;
  dataClass: DataClass;
}

const declared = new Map<string, EncryptedColumn>();

/**
 * Declares the encrypted columns of a table, with the data class whose key encrypts each. Called by
 * the owning module beside its drizzle table, so the declaration cannot drift from the schema file.
 * Personal columns are `bytea` named `*_enc`; the start-up check below proves the schema has no other.
 */
export function declareEncryptedColumns(table: string, columns: Record<string, DataClass>): void {
  for (const [column, dataClass] of Object.entries(columns)) {
    const name = `${table}.${column}`;
    const previous = declared.get(name);
    if (previous && previous.dataClass !== dataClass) {
      throw new EncryptionMapError(`${name} is declared with two data classes`);
    }
    declared.set(name, { table, column, dataClass });
  }
}

/** Every declared encrypted column. */
export function encryptedColumns(): EncryptedColumn[] {
  return [...declared.values()];
}

/** The declared data class of a column, or an error: an undeclared column cannot be written. */
export function declaredDataClass(table: string, column: string): DataClass {
  const entry = declared.get(`${table}.${column}`);
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
  const missing = encryptedColumns().filter((entry) => types.get(key(entry.table, entry.column)) !== 'bytea');
  if (missing.length > 0) {
    throw new EncryptionMapError(
      `encryption map column(s) absent from the schema or not bytea: ${missing.map((entry) => key(entry.table, entry.column)).join(', ')}`,
    );
  }
}
