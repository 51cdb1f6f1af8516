import { z } from 'zod';
import type { FeedField, Recipient } from '../policies/recipients-policy';
import type { FeedSourceRow } from './feed-reader';
import type { RecipientKeys } from './pseudonyms';

const returnedItemSchema = z.strictObject({
  sku: z.string(),
  quantity: z.number().int(),
  unitPriceCents: z.number().int(),
  reason: z.string(),
});

/** What an erased return becomes: the recipient deletes what it holds under this pseudonym. */
export const tombstoneSchema = z
  .strictObject({ id: z.string(), erased: z.literal(true) })
  .meta({ id: 'FeedTombstone' });

/** Every field a recipient could be allowed; each one is present only when its policy lists it. */
export const feedItemSchema = z
  .strictObject({
    id: z.string().describe('pseudonym of the return, stable for this recipient'),
    erased: z.literal(false),
    subject: z.string().optional().describe('pseudonym of the data subject, stable for this recipient'),
    orderRef: z.string().optional().describe('pseudonym of the order reference'),
    merchantId: z.string().optional(),
    status: z.string().optional(),
    method: z.string().optional(),
    refundMethod: z.string().optional(),
    postalArea: z
      .string()
      .nullable()
      .optional()
      .describe('first two digits of the postal code (département)'),
    country: z.string().optional(),
    deliveredAt: z.string().optional().describe('generalised date: YYYY-MM-DD, YYYY-Www or YYYY-MM'),
    notifiedAt: z.string().optional(),
    createdAt: z.string().optional(),
    updatedAt: z.string().optional(),
    items: z.array(returnedItemSchema).optional(),
    amounts: z
      .object({ totalCents: z.number().int(), refundedCents: z.number().int().nullable() })
      .optional(),
  })
  .meta({ id: 'FeedItem' });

export const feedEntrySchema = z.discriminatedUnion('erased', [tombstoneSchema, feedItemSchema]);
export type FeedEntry = z.infer<typeof feedEntrySchema>;

/** One page of the feed, as GET /v1/pseudonymized/returns answers it. */
export const feedPageSchema = z.strictObject({
  items: z.array(feedEntrySchema),
  next: z.string().describe('send it back as `after`; equal to `after` when nothing new was committed'),
  hasMore: z.boolean().describe('the page is full: more items may be waiting now'),
});
export type FeedPage = z.infer<typeof feedPageSchema>;
type FeedItem = z.infer<typeof feedItemSchema>;

type FieldWriter = (item: FeedItem, row: FeedSourceRow, keys: RecipientKeys) => void;

/**
 * One writer per allowlisted field, so a field reaches a recipient only through an explicit line here
 * and only when its policy names it. Personal columns are not even selected (feed-reader.ts).
 */
const fieldWriters: Record<FeedField, FieldWriter> = {
  subject: (item, row, keys) => {
    item.subject = keys.pseudonym('subject', row.subjectId);
  },
  orderRef: (item, row, keys) => {
    item.orderRef = keys.pseudonym('order', `${row.merchantId}\u0000${row.orderRef}`);
  },
  merchantId: (item, row) => {
    item.merchantId = row.merchantId;
  },
  status: (item, row) => {
    item.status = row.status;
  },
  method: (item, row) => {
    item.method = row.method;
  },
  refundMethod: (item, row) => {
    item.refundMethod = row.refundMethod;
  },
  postalArea: (item, row) => {
    item.postalArea = row.postalArea;
  },
  country: (item, row) => {
    item.country = row.country;
  },
  deliveredAt: (item, row) => {
    item.deliveredAt = row.deliveredAt;
  },
  notifiedAt: (item, row) => {
    item.notifiedAt = row.notifiedAt;
  },
  createdAt: (item, row) => {
    item.createdAt = row.createdAt;
  },
  updatedAt: (item, row) => {
    item.updatedAt = row.updatedAt;
  },
  items: (item, row) => {
    item.items = row.items.map(({ sku, quantity, unitPriceCents, reason }) => ({
      sku,
      quantity,
      unitPriceCents,
      reason,
    }));
  },
  amounts: (item, row) => {
    item.amounts = {
      totalCents: row.totalCents,
      refundedCents: row.refundedCents,
    };
  },
};

/**
 * Builds the projection of one recipient for one page; it then runs per row without looking at the
 * policy. A subject's pseudonym is computed once per page however many of its returns the page holds.
 */
export function feedProjection(recipient: Recipient, keys: RecipientKeys): (row: FeedSourceRow) => FeedEntry {
  const writers = recipient.fields.map((field) => fieldWriters[field]);
  const subjects = new Map<string, string>();
  const pageKeys: RecipientKeys = {
    cursorKey: keys.cursorKey,
    pseudonym: (kind, value) => {
      if (kind !== 'subject') return keys.pseudonym(kind, value);
      let pseudonym = subjects.get(value);
      if (pseudonym === undefined) {
        pseudonym = keys.pseudonym(kind, value);
        subjects.set(value, pseudonym);
      }
      return pseudonym;
    },
  };
  return (row) => {
    const id = keys.pseudonym('return', row.returnId);
    if (row.erased) return { id, erased: true };
    const item: FeedItem = { id, erased: false };
    for (const write of writers) write(item, row, pageKeys);
    return item;
  };
}
