import { sql } from 'drizzle-orm';
import {
  bigserial,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The outbox: one row per event, written in the transaction of the change it announces. The
 * dispatcher fans each event out to the subscriptions that match it (`fanned_out_at`), so callers
 * need nothing but their transaction. `id` is the stable `webhook-id` of every delivery of the event.
 * `data` holds ids, statuses and clocks only (checked on enqueue), never personal data.
 */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    type: text('type').notNull(),
    merchantId: text('merchant_id'),
    recipientId: text('recipient_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    fannedOutAt: timestamp('fanned_out_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [index('webhook_events_pending_idx').on(table.createdAt).where(sql`fanned_out_at is null`)],
);

export const deliveryStatuses = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/**
 * One event for one subscription. A claimed row gets a lease (`next_attempt_at` pushed past the
 * request timeout, `lease_id` set): if the dispatcher dies mid-request the lease runs out and the
 * delivery is sent again, which is what makes delivery at least once.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    eventId: uuid('event_id')
      .notNull()
      .references(() => webhookEvents.id),
    subscriptionId: text('subscription_id').notNull(),
    status: text('status', { enum: deliveryStatuses }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    leaseId: uuid('lease_id'),
    lastStatusCode: integer('last_status_code'),
    lastErrorClass: text('last_error_class'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    deadAt: timestamp('dead_at', { withTimezone: true, mode: 'date' }),
    replays: integer('replays').notNull().default(0),
  },
  (table) => [
    unique('webhook_deliveries_event_subscription_key').on(table.eventId, table.subscriptionId),
    index('webhook_deliveries_due_idx')
      .on(table.subscriptionId, table.nextAttemptAt)
      .where(sql`status = 'pending'`),
    index('webhook_deliveries_status_created_idx').on(table.status, table.createdAt),
  ],
);

export const attemptOutcomes = ['delivered', 'failed'] as const;

/** Every attempt, with what the receiver answered (status code, error class) and how long it took. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id),
    attempt: integer('attempt').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    outcome: text('outcome', { enum: attemptOutcomes }).notNull(),
    statusCode: integer('status_code'),
    errorClass: text('error_class'),
  },
  (table) => [index('webhook_attempts_delivery_idx').on(table.deliveryId, table.attempt)],
);

export type WebhookEventRow = typeof webhookEvents.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
