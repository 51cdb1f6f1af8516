import { z } from 'zod';
import { type WebhookEventType, webhookEventTypes } from '../policies/webhooks-policy';

/**
 * What a webhook payload may hold: ids, pseudonyms, statuses, codes, clocks, numbers and booleans.
 * Strings are single tokens (no spaces, no `@`), and field names or values that look like contact or
 * payment data are refused, so a caller's mistake fails in its own transaction instead of leaking.
 */
const personalFieldNames =
  /^(e-?mail|name|first_?name|last_?name|full_?name|phone|address|street|line[12]|city|iban|bic|comment|customer)$/i;
const looksLikePhone = /^\+?[0-9]{8,15}$/;
const looksLikeIban = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/;

const tokenString = z
  .string()
  .max(200)
  .regex(
    /^[A-Za-z0-9_.:+~/-]*$/,
    'a webhook payload string must be a single token (id, status, code or clock)',
  )
  .refine((value) => !looksLikePhone.test(value) && !looksLikeIban.test(value), 'looks like personal data');

type PayloadValue = string | number | boolean | null | PayloadValue[] | { [key: string]: PayloadValue };

const payloadValue: z.ZodType<PayloadValue> = z.lazy(() =>
  z.union([
    tokenString,
    z.number().finite(),
    z.boolean(),
    z.null(),
    z.array(payloadValue).max(100),
    payloadObject,
  ]),
);

const payloadObject = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'expected a camelCase field name')
      .refine((key) => !personalFieldNames.test(key), 'this field holds personal data'),
    payloadValue,
  )
  .refine((value) => Object.keys(value).length <= 50, 'too many fields');

/** Fields each event type must carry, so receivers can rely on them. */
const requiredFields: Record<WebhookEventType, string[]> = {
  'return.created': ['returnId', 'status'],
  'return.status_changed': ['returnId', 'status'],
  'return.refund_overdue': ['returnId', 'refundDueAt'],
  'return.erased': ['returnId'],
  'subject.rectified': ['returnIds'],
};

const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected an identifier');

export const webhookEventInputSchema = z
  .object({
    type: z.enum(webhookEventTypes),
    merchantId: identifier.optional(),
    recipientId: identifier.optional(),
    data: payloadObject,
  })
  .refine((event) => Boolean(event.merchantId) !== Boolean(event.recipientId), {
    message: 'an event is addressed to exactly one merchant or one recipient',
    path: ['merchantId'],
  })
  .superRefine((event, context) => {
    for (const field of requiredFields[event.type]) {
      if (event.data[field] === undefined || event.data[field] === null) {
        context.addIssue({ code: 'custom', path: ['data', field], message: `required for ${event.type}` });
      }
    }
  });

export type WebhookEventInput = z.input<typeof webhookEventInputSchema>;

/** Thrown when a caller tries to enqueue a payload that is malformed or could carry personal data. */
export class WebhookPayloadError extends Error {
  override name = 'WebhookPayloadError';
}

export function parseWebhookEvent(input: WebhookEventInput): z.output<typeof webhookEventInputSchema> {
  const result = webhookEventInputSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // The message names the path only, never the offending value.
    throw new WebhookPayloadError(
      `webhook event refused at ${issue.path.map(String).join('.')}: ${issue.message}`,
    );
  }
  return result.data;
}

/** The body every receiver gets (Standard Webhooks shape), identical on every attempt of an event. */
export function webhookBody(event: {
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}): string {
  return JSON.stringify({ type: event.type, timestamp: event.createdAt, data: event.data });
}
