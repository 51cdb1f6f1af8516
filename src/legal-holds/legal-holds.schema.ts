import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { declareEncryptedColumns } from '../crypto/encryption-map';
import { subjects } from '../crypto/subjects.schema';
import { bytea } from '../db/bytea';

/**
 * A legal hold keeps a subject's data, or one return's, out of erasure and retention until it is
 * released or its `until` passes. Released holds stay as the record of what was kept and why.
 */
export const legalHolds = pgTable(
  'legal_holds',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    subjectId: uuid('subject_id').references(() => subjects.id),
    returnId: uuid('return_id'),
    /** Clear text from before migration 0034, encrypted at start (subject-requests/encrypt-legacy-reasons.ts). */
    reason: text('reason'),
    /** Why the data is kept: free text that may name the person, under the subject's contact key. */
    reasonEnc: bytea('reason_enc'),
    until: timestamp('until', { withTimezone: true, mode: 'date' }),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    releasedBy: text('released_by'),
    releasedAt: timestamp('released_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    check('legal_holds_one_target', sql`(${table.subjectId} is null) <> (${table.returnId} is null)`),
    index('legal_holds_subject_open_idx').on(table.subjectId).where(sql`${table.releasedAt} is null`),
    index('legal_holds_return_open_idx').on(table.returnId).where(sql`${table.releasedAt} is null`),
  ],
);

export type LegalHoldRow = typeof legalHolds.$inferSelect;

declareEncryptedColumns('legal_holds', { reason_enc: 'contact' });
