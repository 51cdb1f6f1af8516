import { sql } from 'drizzle-orm';
import { bigint, customType, index, pgTable, text, uuid } from 'drizzle-orm/pg-core';

/** PostgreSQL's 64-bit transaction id, read as text (it does not fit a JS number). */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * Returns deleted from the table (retention, end of the accounting period), kept as feed positions so
 * recipients still get a tombstone for a return they may hold. Written only by the `returns_feed_deleted`
 * trigger, read only by the feed (feed-reader.ts); same position scheme as `returns.feed_xid/feed_seq`.
 */
export const returnsFeedDeletions = pgTable(
  'returns_feed_deletions',
  {
    returnId: uuid('return_id').primaryKey(),
    subjectId: uuid('subject_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    feedXid: xid8('feed_xid').notNull().default(sql`pg_current_xact_id()`),
    feedSeq: bigint('feed_seq', { mode: 'bigint' }).notNull().default(sql`nextval('returns_feed_seq')`),
  },
  (table) => [index('returns_feed_deletions_position_idx').on(table.feedXid, table.feedSeq)],
);
