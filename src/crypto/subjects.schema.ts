import { sql } from 'drizzle-orm';
import { pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { bytea } from '../db/bytea';
import { timeOrderedUuid } from '../db/time-ordered-uuid';

/**
 * One row per data subject (one normalised e-mail). The e-mail itself is never stored: only its keyed
 * blind index, unique so concurrent intakes of one e-mail end on one subject. Erasure removes the
 * index (NULL): the e-mail no longer finds the subject, and a later return for it starts a new one.
 */
export const subjects = pgTable(
  'subjects',
  {
    /** Time-ordered from the application; the SQL default serves rows written by hand. */
    id: uuid('id')
      .primaryKey()
      .default(sql`gen_random_uuid()`)
      .$defaultFn(() => timeOrderedUuid()),
    emailIndex: bytea('email_index'),
    emailIndexVersion: text('email_index_version'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** Art. 18: while set, the subject's returns are readable only for purposes allowing restricted data. */
    restrictedAt: timestamp('restricted_at', { withTimezone: true, mode: 'date' }),
    /** When an erasure request removed the subject's contact data and blind index (src/erasure). */
    erasedAt: timestamp('erased_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [uniqueIndex('subjects_email_index_key').on(table.emailIndex)],
);

export type SubjectRow = typeof subjects.$inferSelect;
