import { electronicFormatIBAN, isValidIBAN } from 'ibantools';
import { isValidPhoneNumber } from 'libphonenumber-js';
import { z } from 'zod';
import { instant, text } from '../http/request-fields';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { carrierCodePattern } from './carrier-codes';
import { isValidPostalCode, normalisePostalCode } from './postal-codes';
import { eventTypes } from './return-status';

/*
 * Request schemas. Messages say what is expected and never quote the submitted value: they reach the
 * client and the logs, and the values are personal data.
 */

/** Clock skew tolerated between the caller and the service for "not in the future". */
const clockSkewMs = 5 * 60_000;

const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

/** Ids that travel in webhook payloads too, so they keep to the token alphabet those accept. */
const identifier = (max: number) =>
  z
    .string()
    .regex(
      new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${max - 1}}$`),
      `expected 1 to ${max} letters, digits or . _ : -`,
    );

/** A snake_case code kept in clear (reasons): a code, never free text that could hold personal data. */
export const reasonCode = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a snake_case code of at most 64 characters');

/** An RFC 3339 instant with an offset, as a Date, not in the future (and, as any instant, not before 2000). */
const pastInstant = instant.refine(
  (date) => date.getTime() <= Date.now() + clockSkewMs,
  'must not be in the future',
);

const country = z
  .string()
  .regex(/^[A-Z]{2}$/, 'expected an ISO 3166-1 alpha-2 country code in upper case')
  // Zod runs this even when the pattern failed, and Intl throws on a malformed code: guard it.
  .refine(
    (code) => /^[A-Z]{2}$/.test(code) && regionNames.of(code) !== undefined,
    'is not a known country code',
  );

const email = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('expected an e-mail address'));

const phone = z
  .string()
  .regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 phone number (+ and 7 to 15 digits)')
  .refine((value) => isValidPhoneNumber(value), 'is not a valid phone number');

const iban = z
  .string()
  .max(64, 'must be at most 64 characters')
  .transform((value) => electronicFormatIBAN(value) ?? '')
  .refine((value) => isValidIBAN(value), 'is not a valid IBAN (country, length or checksum)');

const address = z
  .strictObject({
    line1: text(200),
    line2: text(200).optional(),
    postalCode: z.string().max(16, 'must be at most 16 characters').transform(normalisePostalCode),
    city: text(100),
    country,
  })
  .superRefine((value, context) => {
    if (!isValidPostalCode(value.country, value.postalCode)) {
      context.addIssue({
        code: 'custom',
        path: ['postalCode'],
        message: 'is not a valid postal code for the country',
      });
    }
  });

const dimension = z.number().int('must be a whole number of millimetres').min(1).max(5000);

export const parcelSchema = z.strictObject({
  weightGrams: z.number().int('must be a whole number of grams').min(1).max(1_000_000),
  lengthMm: dimension,
  widthMm: dimension,
  heightMm: dimension,
});

export const returnMethods = ['mailbox', 'post_office', 'pickup_point'] as const;
export const refundMethods = ['original_payment', 'bank_transfer'] as const;

/** Body of POST /v1/returns, with the limits of the return-rules policy. */
export function createReturnBodySchema(rules: ReturnRulesPolicy) {
  const { limits } = rules;
  const item = z.strictObject({
    sku: identifier(64),
    quantity: z.number().int('must be a whole number').min(1).max(limits.maxQuantityPerItem),
    unitPriceCents: z.number().int('must be a whole number of cents').min(0).max(limits.maxUnitPriceCents),
    reason: reasonCode,
    comment: text(1000).optional(),
  });
  return z
    .strictObject({
      merchantId: identifier(64),
      orderRef: identifier(64),
      deliveredAt: pastInstant,
      notifiedAt: pastInstant.optional(),
      withdrawalInfoGiven: z.boolean().default(true),
      customer: z.strictObject({ name: text(200), email, phone: phone.optional(), address }),
      items: z
        .array(item)
        .min(1, 'at least one item')
        .max(limits.maxItems, `at most ${limits.maxItems} items`),
      parcel: parcelSchema.optional(),
      method: z.enum(returnMethods),
      refund: z.strictObject({ method: z.enum(refundMethods), iban: iban.optional() }),
    })
    .superRefine((body, context) => {
      // Zod runs this even when a date failed its format check and is still a string.
      const { deliveredAt, notifiedAt } = body as { deliveredAt: unknown; notifiedAt?: unknown };
      if (notifiedAt instanceof Date && deliveredAt instanceof Date && notifiedAt < deliveredAt) {
        context.addIssue({ code: 'custom', path: ['notifiedAt'], message: 'must not be before deliveredAt' });
      }
      if (body.method === 'mailbox' && !body.parcel) {
        context.addIssue({
          code: 'custom',
          path: ['parcel'],
          message: 'is required for a mailbox return (its size decides eligibility)',
        });
      }
      if (body.refund.method === 'bank_transfer' && !body.refund.iban) {
        context.addIssue({
          code: 'custom',
          path: ['refund', 'iban'],
          message: 'is required for a bank transfer',
        });
      }
      if (body.refund.method !== 'bank_transfer' && body.refund.iban) {
        // Data minimisation: an IBAN that no refund needs is not collected.
        context.addIssue({
          code: 'custom',
          path: ['refund', 'iban'],
          message: 'is accepted only for a bank transfer',
        });
      }
    });
}

export type CreateReturnBody = z.infer<ReturnType<typeof createReturnBodySchema>>;

/** Body of POST /v1/returns/:id/events: a normalised `type` or a carrier's `carrierCode`. */
export const returnEventBodySchema = z
  .strictObject({
    type: z.enum(eventTypes).optional(),
    carrierCode: z
      .string()
      .max(32, 'must be at most 32 characters')
      .transform((code) => code.trim().toUpperCase())
      .pipe(z.string().regex(carrierCodePattern, 'expected a carrier event code (letters, digits, _ or -)'))
      .optional(),
    occurredAt: pastInstant,
    carrier: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a lower-case carrier name such as colissimo')
      .optional(),
    location: text(200).optional(),
    proof: text(2000).optional(),
    amountCents: z.number().int('must be a whole number of cents').min(0).max(1_000_000_000_000).optional(),
    reason: reasonCode.optional(),
  })
  .superRefine((body, context) => {
    if ((body.type === undefined) === (body.carrierCode === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['type'],
        message: 'send exactly one of type or carrierCode',
      });
    }
    if (body.type === 'refunded' && body.amountCents === undefined) {
      context.addIssue({ code: 'custom', path: ['amountCents'], message: 'is required for a refund' });
    }
    if (body.type === 'rejected' && body.reason === undefined) {
      context.addIssue({ code: 'custom', path: ['reason'], message: 'is required for a rejection' });
    }
  });

export type ReturnEventBody = z.infer<typeof returnEventBodySchema>;
