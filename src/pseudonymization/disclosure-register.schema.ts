import { bigint, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Which recipient received pseudonymized data about which subject, first and last (GDPR Art. 15(1)(c),
 * Art. 30(1)(d)). No foreign key to `subjects`: the register is proof of compliance and outlives the
 * data it describes.
 */
export const recipientDisclosures = pgTable(
  'recipient_disclosures',
  {
    recipientId: text('recipient_id').notNull(),
    subjectId: uuid('subject_id').notNull(),
    firstDisclosedAt: timestamp('first_disclosed_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastDisclosedAt: timestamp('last_disclosed_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  // Subject first: the one index serves both the fold's upsert and the access package's lookup.
  (table) => [primaryKey({ columns: [table.subjectId, table.recipientId] })],
);

/**
 * Disclosures not yet folded into `recipient_disclosures`: one row per served feed page, with every
 * subject the page disclosed. A page is served only once its row is committed, so the register is
 * this log and `recipient_disclosures` together (disclosure-register.ts reads both); a background fold
 * moves the rows over in batches, off the feed's request path.
 */
export const recipientDisclosureLog = pgTable('recipient_disclosure_log', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  recipientId: text('recipient_id').notNull(),
  disclosedAt: timestamp('disclosed_at', { withTimezone: true, mode: 'date' }).notNull(),
  subjectIds: uuid('subject_ids').array().notNull(),
});

/**
 * When each recipient read past the tombstone of an erased return: the proof that it was told of the
 * erasure (Art. 19). The first reading counts; later re-reads do not move it.
 */
export const recipientErasureNotices = pgTable(
  'recipient_erasure_notices',
  {
    recipientId: text('recipient_id').notNull(),
    returnId: uuid('return_id').notNull(),
    subjectId: uuid('subject_id').notNull(),
    toldAt: timestamp('told_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.recipientId, table.returnId] }),
    index('recipient_erasure_notices_subject_idx').on(table.subjectId),
  ],
);

export type RecipientDisclosureRow = typeof recipientDisclosures.$inferSelect;
export type RecipientErasureNoticeRow = typeof recipientErasureNotices.$inferSelect;
