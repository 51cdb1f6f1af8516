import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const returnRulesPolicySchema = z.object({
  withdrawal: z.object({
    /** L221-18: 14 days at least; a merchant may give more, never less. */
    days: positiveInt.min(14, 'the legal minimum is 14 days'),
    /** L221-20: the window grows by 12 months when the withdrawal information was not given. */
    missingInformationExtensionMonths: positiveInt.default(12),
    /** L221-19: a period ending on a weekend or public holiday runs to the next working day. */
    extendToWorkingDay: z.boolean().default(true),
    holidayCalendar: z.enum(['FR']).default('FR'),
  }),
  /** L221-23: goods sent back within this many days of notifying the withdrawal. */
  returnDays: positiveInt.default(14),
  /** L221-24: refund within this many days of the notification. */
  refundDays: positiveInt.default(14),
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
