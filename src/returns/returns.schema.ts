import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { declareEncryptedColumns } from '../crypto/encryption-map';
import { subjects } from '../crypto/subjects.schema';
import { bytea } from '../db/bytea';
import { dataStates } from '../policies/purposes-policy';

/** An item as kept in clear: what was returned and why, never the customer's comment. */
export interface StoredItem {
  sku: string;
  quantity: number;
  unitPriceCents: number;
  reason: string;
}

export interface StoredParcel {
  weightGrams: number;
  lengthMm: number;
  widthMm: number;
  heightMm: number;
}

const instant = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * One parcel return. Business fields (status, dates, clocks, items, amounts, coarse place) are in
 * clear for queries and the pseudonymized feed; every personal field is a `*_enc` bytea ciphertext
 * under the subject's key for its data class. Every write goes through return-repository.ts, but the
 * seed's bulk inserts (seed-batch.ts).
 */
export const returns = pgTable(
  'returns',
  {
    id: uuid('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    orderRef: text('order_ref').notNull(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    status: text('status').notNull().default('created'),
    method: text('method').notNull(),
    refundMethod: text('refund_method').notNull(),
    /** Which purposes may read the personal fields (policies/purposes.yaml allowedStates). */
    dataState: text('data_state', { enum: dataStates }).notNull().default('active'),
    withdrawalInfoGiven: boolean('withdrawal_info_given').notNull().default(true),
    deliveredAt: instant('delivered_at').notNull(),
    notifiedAt: instant('notified_at').notNull(),
    withdrawalDeadline: date('withdrawal_deadline', { mode: 'string' }).notNull(),
    returnDeadline: date('return_deadline', { mode: 'string' }).notNull(),
    /** L221-24 due date, null while deferred; stored so overdue refunds can be queried. */
    refundDueAt: instant('refund_due_at'),
    refundedAt: instant('refunded_at'),
    refundedCents: bigint('refunded_cents', { mode: 'number' }),
    items: jsonb('items').$type<StoredItem[]>().notNull(),
    totalCents: bigint('total_cents', { mode: 'number' }).notNull(),
    parcel: jsonb('parcel').$type<StoredParcel>(),
    /** Coarse place for the pseudonymized feed: département or postal prefix, and country. */
    postalArea: text('postal_area').notNull(),
    country: text('country').notNull(),
    customerNameEnc: bytea('customer_name_enc'),
    customerEmailEnc: bytea('customer_email_enc'),
    customerPhoneEnc: bytea('customer_phone_enc'),
    addressLine1Enc: bytea('address_line1_enc'),
    addressLine2Enc: bytea('address_line2_enc'),
    postalCodeEnc: bytea('postal_code_enc'),
    cityEnc: bytea('city_enc'),
    /** JSON array of the item comments (null entries for items without one), one ciphertext. */
    itemCommentsEnc: bytea('item_comments_enc'),
    ibanEnc: bytea('iban_enc'),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    /** Art. 18: the subject restricted processing (cleared when the restriction is lifted). */
    restrictedAt: instant('restricted_at'),
    /**
     * An erasure request found this return under a legal hold: what the hold keeps is for legal claims
     * only from then on, whatever becomes of an Art. 18 restriction.
     */
    keptForClaimsAt: instant('kept_for_claims_at'),
    archivedAt: instant('archived_at'),
    erasedAt: instant('erased_at'),
  },
  (table) => [
    index('returns_subject_id_idx').on(table.subjectId),
    index('returns_merchant_created_idx').on(table.merchantId, table.createdAt),
    index('returns_refund_due_idx').on(table.refundDueAt).where(sql`${table.refundedAt} is null`),
    check('returns_data_state_check', sql`${table.dataState} in ('active', 'restricted', 'archived')`),
    // The pseudonymized feed writes these codes into its JSON between quotes, unescaped
    // (src/pseudonymization/feed-reader.ts): they are kept to characters JSON never escapes.
    check(
      'returns_feed_codes',
      sql`${table.status} ~ '^[a-z_]{1,32}$' and ${table.method} ~ '^[a-z_]{1,32}$'
        and ${table.refundMethod} ~ '^[a-z_]{1,32}$' and ${table.country} ~ '^[A-Z]{2}$'
        and ${table.postalArea} ~ '^[A-Z0-9 -]{0,3}$'`,
    ),
    // The pseudonymized feed sends items as stored (src/pseudonymization/feed-reader.ts): an item is an
    // object of the four keys of StoredItem with text or number values, and nothing else ever.
    check(
      'returns_items_keys',
      sql`jsonb_typeof(${table.items}) = 'array'
        and not jsonb_path_exists(${table.items}, 'strict $[*] ? (@.type() != "object")', '{}', true)
        and not jsonb_path_exists(${table.items}, 'strict $[*].keyvalue() ? (!(@.key == "sku" || @.key == "quantity" || @.key == "unitPriceCents" || @.key == "reason") || (@.value.type() != "string" && @.value.type() != "number"))', '{}', true)`,
    ),
  ],
);

/**
 * The timeline of a return: every event kept, in the order it arrived (`arrival`). `dedupe_key` makes
 * a repeated event (same return, type or code, instant, carrier) land once.
 */
export const returnEvents = pgTable(
  'return_events',
  {
    id: uuid('id').primaryKey(),
    arrival: bigserial('arrival', { mode: 'number' }).notNull(),
    returnId: uuid('return_id')
      .notNull()
      .references(() => returns.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    origin: text('origin', { enum: ['merchant', 'carrier'] }).notNull(),
    carrierCode: text('carrier_code'),
    carrier: text('carrier'),
    occurredAt: instant('occurred_at').notNull(),
    receivedAt: instant('received_at').notNull().defaultNow(),
    dedupeKey: text('dedupe_key').notNull().unique('return_events_dedupe_key_key'),
    amountCents: bigint('amount_cents', { mode: 'number' }),
    reason: text('reason'),
    locationEnc: bytea('location_enc'),
    proofEnc: bytea('proof_enc'),
  },
  (table) => [
    index('return_events_return_arrival_idx').on(table.returnId, table.arrival),
    // When each return closed, for retention: the clock of the contact rules starts there. A probe of
    // this index answers a return's closing date without reading every event of the return.
    index('return_events_closed_idx')
      .on(table.returnId, table.occurredAt)
      .where(sql`${table.type} = 'closed'`),
  ],
);

declareEncryptedColumns('returns', {
  customer_name_enc: 'contact',
  customer_email_enc: 'contact',
  customer_phone_enc: 'contact',
  address_line1_enc: 'contact',
  address_line2_enc: 'contact',
  postal_code_enc: 'contact',
  city_enc: 'contact',
  item_comments_enc: 'contact',
  iban_enc: 'payment',
});
declareEncryptedColumns('return_events', { location_enc: 'contact', proof_enc: 'contact' });

export type ReturnRow = typeof returns.$inferSelect;
export type NewReturnRow = typeof returns.$inferInsert;
export type ReturnEventRow = typeof returnEvents.$inferSelect;
export type NewReturnEventRow = typeof returnEvents.$inferInsert;
