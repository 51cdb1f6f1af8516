import { z } from 'zod';

/**
 * Fields of a pseudonymized return a recipient may receive. `id` (the return's pseudonym) is always
 * sent: without it a recipient could not apply updates or tombstones.
 */
export const feedFields = [
  'subject',
  'orderRef',
  'merchantId',
  'status',
  'method',
  'refundMethod',
  'postalArea',
  'country',
  'deliveredAt',
  'notifiedAt',
  'createdAt',
  'updatedAt',
  'items',
  'amounts',
] as const;
export type FeedField = (typeof feedFields)[number];

/** How coarse places and dates are before they leave the service (data minimisation, Art. 5(1)(c)). */
export const placeGeneralisations = ['postal_area', 'country'] as const;
export const dateGeneralisations = ['day', 'week', 'month'] as const;
export type DateGeneralisation = (typeof dateGeneralisations)[number];

const recipientSchema = z
  .object({
    /** Matched against the token's `client_id` (or `sub`); also names the recipient's pseudonym keys. */
    id: z.string().regex(/^[a-z][a-z0-9_-]{1,62}$/, 'expected a lower-case identifier'),
    name: z.string().min(1),
    purpose: z.string().min(1),
    legalBasis: z.string().min(1),
    fields: z
      .array(z.enum(feedFields))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'fields must not repeat'),
    generalisation: z.object({
      place: z.enum(placeGeneralisations),
      dates: z.enum(dateGeneralisations),
    }),
    /** Requests per window for this recipient; every instance counts on its own. */
    rateLimit: z
      .object({ max: z.number().int().positive(), windowSeconds: z.number().int().positive() })
      .default({ max: 600, windowSeconds: 60 }),
  })
  .refine(
    (recipient) => !(recipient.generalisation.place === 'country' && recipient.fields.includes('postalArea')),
    {
      message: 'postalArea contradicts generalisation.place: country',
      path: ['fields'],
    },
  );

export const recipientsPolicySchema = z.object({
  recipients: z
    .array(recipientSchema)
    .min(1)
    .refine((list) => new Set(list.map((r) => r.id)).size === list.length, 'recipient ids must be unique'),
});

export type RecipientsPolicy = z.infer<typeof recipientsPolicySchema>;
export type Recipient = RecipientsPolicy['recipients'][number];
