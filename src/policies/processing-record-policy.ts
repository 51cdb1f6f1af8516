import { z } from 'zod';

/**
 * What the record of processing activities (GDPR Art. 30) and the access package (Art. 15) need
 * beyond purposes, recipients and retention: who the controller is, where each data category comes
 * from, the security measures, the transfers and the rights. Role addresses only, never a person's.
 */
export const processingRecordPolicySchema = z.object({
  controller: z.object({
    name: z.string().min(1),
    contact: z.string().min(1),
    representative: z.string().min(1).optional(),
  }),
  dpo: z.object({ contact: z.string().min(1) }),
  activity: z.object({ name: z.string().min(1), description: z.string().min(1) }),
  dataSubjects: z.array(z.string().min(1)).min(1),
  dataCategories: z
    .array(
      z.object({
        id: z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, 'expected a snake_case identifier'),
        description: z.string().min(1),
        source: z.string().min(1),
        /** Art. 20: portability covers only the data the person provided. */
        providedBySubject: z.boolean(),
      }),
    )
    .min(1)
    .refine(
      (list) => new Set(list.map((c) => c.id)).size === list.length,
      'data category ids must be unique',
    ),
  transfersOutsideEea: z.string().min(1),
  securityMeasures: z.array(z.string().min(1)).min(1),
  rights: z
    .array(z.object({ right: z.string().min(1), article: z.string().min(1), how: z.string().min(1) }))
    .min(1),
  supervisoryAuthority: z.string().min(1),
});

export type ProcessingRecordPolicy = z.infer<typeof processingRecordPolicySchema>;
