import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from '../db/bytea';
import { dataClasses } from './data-classes';
import { subjects } from './subjects.schema';

/**
 * One data key (DEK) per subject and data class, stored only wrapped by a master key (KEK) whose
 * version is kept beside it. Erasure sets the wrapped key NULL and `destroyed_at` (crypto-shredding);
 * the version it was last wrapped under stays, so no indexed column changes and a retention sweep
 * destroys keys by HOT updates.
 */
export const subjectDataKeys = pgTable(
  'subject_data_keys',
  {
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id, { onDelete: 'cascade' }),
    dataClass: text('data_class', { enum: dataClasses }).notNull(),
    wrappedKey: bytea('wrapped_key'),
    kekVersion: text('kek_version'),
    // Bumped when a destroyed class gets a new key; ciphertexts carry it, so older ones stay unreadable.
    generation: integer('generation').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    wrappedAt: timestamp('wrapped_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    destroyedAt: timestamp('destroyed_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    primaryKey({ columns: [table.subjectId, table.dataClass] }),
    // A key is either live (wrapped, with its KEK version) or destroyed (nothing left to unwrap).
    check(
      'subject_data_keys_live_or_destroyed',
      sql`(${table.destroyedAt} is null and ${table.wrappedKey} is not null and ${table.kekVersion} is not null)
        or (${table.destroyedAt} is not null and ${table.wrappedKey} is null)`,
    ),
    // Rotation finds the keys still under an old KEK version, and GET /v1/keys counts per version.
    index('subject_data_keys_kek_version_idx').on(table.kekVersion),
  ],
);

export type SubjectDataKeyRow = typeof subjectDataKeys.$inferSelect;
