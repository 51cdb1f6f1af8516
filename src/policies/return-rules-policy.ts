import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const returnRulesPolicySchema = z.object({
  withdrawal: z.object({
    /** L221-18: 14 days at least; a merchant may give more, never less. */
    days: positiveInt.min(14, 'the legal minimum is 14 days'),
    /** L221-20: the window grows by 12 months when the withdrawal information was not given. */
    missingInformationExtensionMonths: positiveInt.min(12, 'the legal extension is 12 months').default(12),
    /** L221-19: a period ending on a weekend or public holiday runs to the next working day. */
    extendToWorkingDay: z
      .literal(true, {
        error: 'L221-19 moves an end on a weekend or public holiday; it cannot be turned off',
      })
      .default(true),
    holidayCalendar: z.enum(['FR']).default('FR'),
  }),
  /** L221-23: goods sent back within this many days of notifying the withdrawal; the customer may get more. */
  returnDays: positiveInt.min(14, 'the customer has at least 14 days').default(14),
  /** L221-24: refund within this many days of the notification; the merchant may take fewer. */
  refundDays: positiveInt.max(14, 'the merchant has at most 14 days').default(14),
  letterbox: z.object({
    /** Inside dimensions of a standard letterbox, any order. */
    maxDimensionsMm: z.tuple([positiveInt, positiveInt, positiveInt]),
    maxWeightGrams: positiveInt,
  }),
  limits: z
    .object({
      maxItems: positiveInt.default(100),
      maxQuantityPerItem: positiveInt.default(1000),
      maxUnitPriceCents: positiveInt.default(100_000_000),
    })
    .prefault({}),
});

export type ReturnRulesPolicy = z.infer<typeof returnRulesPolicySchema>;
