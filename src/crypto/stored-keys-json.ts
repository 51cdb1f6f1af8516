import { type SQL, sql } from 'drizzle-orm';
import { jsonRowOf, rowFromJson } from '../db/json-rows';
import type { DataClass } from './data-classes';
import { type SubjectDataKeyRow, subjectDataKeys } from './subject-data-keys.schema';

/*
 * A subject's stored (wrapped) data keys carried as one JSON array inside a larger statement, so a
 * read or an intake gets them without a statement of their own.
 */

const keyRowJson = jsonRowOf(subjectDataKeys);

/** `(select json array of key rows from <source>)`; `source` names rows shaped as subject_data_keys. */
export function storedKeysJson(source: SQL): SQL<Record<string, unknown>[]> {
  return sql`(select coalesce(json_agg(${keyRowJson}), '[]'::json) from ${source})`;
}

/** The array `storedKeysJson` returned, by data class, as a SubjectKeyset takes them. */
export function storedKeysByClass(json: Record<string, unknown>[]): Map<DataClass, SubjectDataKeyRow> {
  return new Map(
    json.map((object) => {
      const key = rowFromJson(subjectDataKeys, object);
      return [key.dataClass, key] as const;
    }),
  );
}
