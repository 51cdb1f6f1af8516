import { sql } from 'drizzle-orm';
import { pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { bytea } from '../db/bytea';

/**
 * One row per data subject (one normalised e-mail). The e-mail itself is never stored: only its keyed
 * blind index, unique so concurrent intakes of one e-mail end on one subject.
 */
export const subjects = pgTable(
  'subjects',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    emailIndex: bytea('email_index').notNull(),
    emailIndexVersion: text('email_index_version').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('subjects_email_index_key').on(table.emailIndex)],
);

export type SubjectRow = typeof subjects.$inferSelect;
