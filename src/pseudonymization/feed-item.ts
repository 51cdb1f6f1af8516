import { z } from 'zod';
import type { Recipient } from '../policies/recipients-policy';
import { type FeedSourceRow, isDateField, isTombstone } from './feed-reader';
import { generalisedParisDate } from './generalised-dates';
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
    restricted: z
      .literal(true)
      .optional()
      .describe(
        'the subject restricted processing (GDPR Art. 18), or an erasure request kept the return for legal claims: only id is sent; stop processing the return until it re-appears without this flag',
      ),
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
/**
 * Builds the projection of one recipient for one page: each row becomes the JSON of its FeedEntry.
 * The pseudonyms and the generalised dates are computed here; the business fields arrive as JSON
 * written by PostgreSQL (feed-reader.ts), so nothing is parsed and serialized again. Dates come last.
 * A subject's pseudonym is computed once per page however many of its returns the page holds.
 * Pseudonyms are base64url and dates digits: no escaping needed.
 */
export function feedProjection(recipient: Recipient, keys: RecipientKeys): (row: FeedSourceRow) => string {
  const withSubject = recipient.fields.includes('subject');
  const withOrderRef = recipient.fields.includes('orderRef');
  const generalisation = recipient.generalisation.dates;
  const dates = recipient.fields.filter(isDateField).map((field) => ({ field, member: `,"${field}":"` }));
  const subjects = new Map<string, string>();
  const subjectPseudonym = (subjectId: string) => {
    let pseudonym = subjects.get(subjectId);
    if (pseudonym === undefined) {
      pseudonym = keys.pseudonym('subject', subjectId);
      subjects.set(subjectId, pseudonym);
    }
    return pseudonym;
  };
  return (row) => {
    const id = keys.pseudonym('return', row.returnId);
    if (isTombstone(row)) return `{"id":"${id}","erased":true}`;
    if (row.restricted) return `{"id":"${id}","erased":false,"restricted":true}`;
    let json = `{"id":"${id}","erased":false`;
    if (withSubject) json += `,"subject":"${subjectPseudonym(row.subjectId)}"`;
    if (withOrderRef)
      json += `,"orderRef":"${keys.pseudonym('order', `${row.merchantId}\u0000${row.orderRef}`)}"`;
    if (row.plain !== '') json += `,${row.plain}`;
    for (const { field, member } of dates)
      json += `${member}${generalisedParisDate(generalisation, row[field]!)}"`;
    return `${json}}`;
  };
}
