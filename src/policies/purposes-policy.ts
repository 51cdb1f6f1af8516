import { z } from 'zod';

/** The states a subject's personal data can be in; a purpose lists the states it may read. */
export const dataStates = ['active', 'restricted', 'archived'] as const;
export type DataState = (typeof dataStates)[number];

export const purposesPolicySchema = z.object({
  purposes: z
    .array(
      z.object({
        id: z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, 'expected a snake_case identifier'),
        description: z.string().min(1),
        legalBasis: z.string().min(1),
        dataCategories: z.array(z.string().min(1)).default([]),
        allowedStates: z.array(z.enum(dataStates)).min(1),
      }),
    )
    .min(1)
    .refine((list) => new Set(list.map((p) => p.id)).size === list.length, 'purpose ids must be unique'),
});

export type PurposesPolicy = z.infer<typeof purposesPolicySchema>;
export type Purpose = PurposesPolicy['purposes'][number];
