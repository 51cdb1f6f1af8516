import { z } from 'zod';

/** Every event a subscription can ask for; payloads carry ids, statuses and clocks only. */
export const webhookEventTypes = [
  'return.created',
  'return.status_changed',
  'return.refund_overdue',
  'return.erased',
  'subject.rectified',
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected an identifier');

const subscriptionSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a lowercase identifier'),
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).refine((value) => {
      const url = new URL(value);
      return url.username === '' && url.password === '' && url.hash === '';
    }, 'credentials and fragments are not allowed in a webhook URL'),
    /** The merchant whose return events it receives; with neither this nor recipientId, every merchant's. */
    merchantId: identifier.optional(),
    /** The recipient of pseudonymized data it serves: it gets only events addressed to that recipient. */
    recipientId: identifier.optional(),
    events: z.array(z.enum(webhookEventTypes)).min(1),
    maxAttempts: z.number().int().min(1).max(50).default(12),
    /** Whole-request budget (connect, headers, body); bounded so a slow receiver cannot hold a slot long. */
    timeoutMs: z.number().int().min(100).max(30_000).default(10_000),
  })
  .strict()
  .refine((subscription) => !(subscription.merchantId && subscription.recipientId), {
    message: 'a subscription serves a merchant or a recipient, not both',
    path: ['recipientId'],
  });

export const webhooksPolicySchema = z.object({
  subscriptions: z
    .array(subscriptionSchema)
    .default([])
    .refine((list) => new Set(list.map((s) => s.id)).size === list.length, 'subscription ids must be unique'),
});

export type WebhooksPolicy = z.infer<typeof webhooksPolicySchema>;
export type WebhookSubscription = WebhooksPolicy['subscriptions'][number];
