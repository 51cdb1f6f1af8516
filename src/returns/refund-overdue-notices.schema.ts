import { pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { returns } from './returns.schema';

/**
 * One row per return whose refund became overdue (L221-24) and was announced to webhook subscribers:
 * the primary key makes the announcement happen once, whichever instance finds it first.
 */
export const refundOverdueNotices = pgTable('refund_overdue_notices', {
  returnId: uuid('return_id')
    .primaryKey()
    .references(() => returns.id, { onDelete: 'cascade' }),
  notifiedAt: timestamp('notified_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});
