import { sql } from 'drizzle-orm';
import { bigserial, customType, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** PostgreSQL's 64-bit transaction id (xid8), read as a decimal string. */
export const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/**
 * What happened, by whom, to what, for which purpose. Append-only (triggers block UPDATE, DELETE and
 * TRUNCATE). `id` is an insertion sequence with gaps, not a log position: the sequencer assigns
 * positions in commit order. No column ever holds personal data; `subject_ref` is a subject id: random
 * but for its first 48 bits, the millisecond the subject was created (time-ordered, version 7), which the
 * event of that creation records anyway.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull().unique().default(sql`gen_random_uuid()`),
    occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    actor: text('actor').notNull(),
    actorScopes: text('actor_scopes').array().notNull().default(sql`'{}'::text[]`),
    clientId: text('client_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    subjectRef: text('subject_ref'),
    purpose: text('purpose'),
    outcome: text('outcome', { enum: ['success', 'denied', 'failure'] }).notNull(),
    requestId: text('request_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    /**
     * The writing transaction: the sequencer positions an event once every transaction below its
     * snapshot's xmin has ended, so a late commit is never skipped (see sequencer.ts).
     */
    txXid: xid8('tx_xid').notNull().default(sql`pg_current_xact_id()`),
  },
  (table) => [
    index('audit_events_occurred_at_idx').on(table.occurredAt),
    index('audit_events_action_idx').on(table.action),
    index('audit_events_tx_xid_idx').on(table.txXid),
  ],
);

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEvent = typeof auditEvents.$inferInsert;
