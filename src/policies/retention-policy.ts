import { z } from 'zod';
import { holdsOnEveryReferenceDate, parseIsoDuration } from './iso-duration';

/** What each data class holds is in DOMAIN.md; each class has its own clock and its own actions. */
export const retentionDataClasses = [
  'contact',
  'proof',
  'payment',
  'accounting',
  'requests',
  'audit',
] as const;
export type RetentionDataClass = (typeof retentionDataClasses)[number];

export const retentionStartEvents = [
  'return_closed',
  'refunded',
  'request_completed',
  'event_recorded',
] as const;
export type RetentionStartEvent = (typeof retentionStartEvents)[number];

/**
 * archive: kept but readable only for purposes allowed on archived data; erase: personal values made
 * unrecoverable; delete: the record goes; redact: the record stays without the class's fields.
 */
export const retentionActions = ['archive', 'erase', 'delete', 'redact'] as const;
export type RetentionAction = (typeof retentionActions)[number];

/** The clock each class runs on and the actions that make sense for it. */
export const retentionClassRules: Record<
  RetentionDataClass,
  { startEvent: RetentionStartEvent; actions: readonly RetentionAction[] }
> = {
  contact: { startEvent: 'return_closed', actions: ['archive', 'erase'] },
  proof: { startEvent: 'return_closed', actions: ['archive', 'erase'] },
  payment: { startEvent: 'refunded', actions: ['erase'] },
  accounting: { startEvent: 'refunded', actions: ['delete'] },
  requests: { startEvent: 'request_completed', actions: ['delete', 'redact'] },
  audit: { startEvent: 'event_recorded', actions: ['delete'] },
};

// No record is kept for a century; longer periods overflow the dates (NaN in JavaScript, "timestamp out
// of range" from PostgreSQL in the middle of a run, failing every rule after it).
const longestPeriod = { iso: 'P100Y', ...parseIsoDuration('P100Y')! };

const isoDuration = z.string().transform((text, context) => {
  const parsed = parseIsoDuration(text);
  if (!parsed) {
    context.addIssue({
      code: 'custom',
      message: 'expected an ISO 8601 duration such as P3M, P5Y or P1Y6M (whole numbers)',
    });
    return z.NEVER;
  }
  if (!holdsOnEveryReferenceDate((endOf) => endOf(parsed) <= endOf(longestPeriod))) {
    context.addIssue({
      code: 'custom',
      message: `${text} is longer than 100 years: a retention period may be at most ${longestPeriod.iso}`,
    });
    return z.NEVER;
  }
  return { iso: text, ...parsed };
});

// Trimmed first: a blank legal basis says no more than a missing one.
const statedText = z.string().trim().min(1, 'must not be empty or blank');

export const retentionRuleSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'expected a kebab-case identifier'),
  dataClass: z.enum(retentionDataClasses),
  startEvent: z.enum(retentionStartEvents),
  duration: isoDuration,
  action: z.enum(retentionActions),
  legalBasis: statedText,
  description: statedText.optional(),
});

export const retentionPolicySchema = z
  .object({ rules: z.array(retentionRuleSchema).min(1) })
  .superRefine(({ rules }, context) => {
    const seen = new Map<string, number>();
    rules.forEach((rule, index) => {
      const classRules = retentionClassRules[rule.dataClass];
      if (rule.startEvent !== classRules.startEvent) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'startEvent'],
          message: `${rule.dataClass} data is retained from ${classRules.startEvent}`,
        });
      }
      if (!classRules.actions.includes(rule.action)) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'action'],
          message: `${rule.dataClass} data allows ${classRules.actions.join(' or ')}`,
        });
      }
      if (rules.findIndex((other) => other.id === rule.id) !== index) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'id'],
          message: 'rule ids must be unique',
        });
      }
      const key = `${rule.dataClass}/${rule.action}`;
      if (seen.has(key)) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'action'],
          message: `${rule.dataClass} already has a ${rule.action} rule`,
        });
      }
      seen.set(key, index);
    });
    // Archiving after the data is gone would be meaningless: archive must come first, whatever the date.
    for (const rule of rules) {
      if (rule.action !== 'archive') continue;
      rules.forEach((later, index) => {
        if (
          later.dataClass === rule.dataClass &&
          later !== rule &&
          !holdsOnEveryReferenceDate((endOf) => endOf(later.duration) > endOf(rule.duration))
        ) {
          context.addIssue({
            code: 'custom',
            path: ['rules', index, 'duration'],
            message: `must be longer than the archive period of ${rule.dataClass} (${rule.duration.iso})`,
          });
        }
      });
    }
    // Tracking proof is encrypted under the contact key: it can only be archived and erased with it.
    rules.forEach((rule, index) => {
      if (rule.dataClass !== 'proof') return;
      const contact = rules.find((other) => other.dataClass === 'contact' && other.action === rule.action);
      if (
        !contact ||
        !holdsOnEveryReferenceDate((endOf) => endOf(contact.duration) === endOf(rule.duration))
      ) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'duration'],
          message: `proof is ${rule.action}d with contact data: needs a contact ${rule.action} rule of the same duration on every calendar date`,
        });
      }
    });
    // Deleting a return erases its contact and payment data first (src/retention/retention-targets.ts),
    // so an accounting period that ends before one of their erase periods cuts that period short. Both
    // payment and accounting run from the refund; for a return that ended without one, accounting runs
    // from the end, as contact does (and a refund always comes before the end).
    const erasedByDelete: Partial<Record<RetentionDataClass, string>> = {
      payment: 'its IBAN, and both periods run from the refund',
      contact: 'its contact data, and for a return that ended without a refund both periods run from its end',
    };
    rules.forEach((rule, index) => {
      if (rule.dataClass !== 'accounting' || rule.action !== 'delete') return;
      for (const erase of rules) {
        const erased = erasedByDelete[erase.dataClass];
        if (erase.action !== 'erase' || !erased) continue;
        if (!holdsOnEveryReferenceDate((endOf) => endOf(rule.duration) >= endOf(erase.duration))) {
          context.addIssue({
            code: 'custom',
            path: ['rules', index, 'duration'],
            message: `must not end before ${erase.id} (${erase.duration.iso}): deleting a return erases ${erased}`,
          });
        }
      }
    });
  });

export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;
export type RetentionRule = RetentionPolicy['rules'][number];
