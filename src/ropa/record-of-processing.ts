import { z } from 'zod';
import type { Policies } from '../policies/load-policies';

export const retentionStepSchema = z.object({
  rule: z.string(),
  action: z.string(),
  after: z.string().meta({ description: 'ISO 8601 duration counted from `from`' }),
  from: z.string(),
  legalBasis: z.string(),
});

/** GDPR Art. 30(1): the record the controller keeps and shows the supervisory authority on request. */
export const recordOfProcessingSchema = z
  .object({
    policyVersion: z.string(),
    controller: z.object({ name: z.string(), contact: z.string(), representative: z.string().optional() }),
    dpo: z.object({ contact: z.string() }),
    activity: z.object({ name: z.string(), description: z.string() }),
    purposes: z.array(
      z.object({
        id: z.string(),
        description: z.string(),
        legalBasis: z.string(),
        dataCategories: z.array(z.string()),
        readableDataStates: z.array(z.string()),
      }),
    ),
    dataSubjects: z.array(z.string()),
    dataCategories: z.array(
      z.object({
        id: z.string(),
        description: z.string(),
        source: z.string(),
        retention: z.array(retentionStepSchema),
      }),
    ),
    recipients: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        purpose: z.string(),
        legalBasis: z.string(),
        form: z.literal('pseudonymized'),
        fields: z.array(z.string()),
      }),
    ),
    retention: z.array(retentionStepSchema.extend({ dataClass: z.string() })),
    transfersOutsideEea: z.string(),
    securityMeasures: z.array(z.string()),
  })
  .meta({ id: 'RecordOfProcessing' });

export type RecordOfProcessing = z.infer<typeof recordOfProcessingSchema>;

type RetentionRule = Policies['retention']['rules'][number];

function retentionStep(rule: RetentionRule): z.infer<typeof retentionStepSchema> {
  return {
    rule: rule.id,
    action: rule.action,
    after: rule.duration.iso,
    from: rule.startEvent,
    legalBasis: rule.legalBasis,
  };
}

/** The retention steps of one data class, in policy order (also quoted in access packages). */
export function retentionStepsOf(
  policies: Policies,
  dataClass: string,
): z.infer<typeof retentionStepSchema>[] {
  return policies.retention.rules.filter((rule) => rule.dataClass === dataClass).map(retentionStep);
}

/** Generated from policies/ only, so the record cannot drift from what the service enforces. */
export function buildRecordOfProcessing(policies: Policies): RecordOfProcessing {
  const record = policies.processingRecord;
  return {
    policyVersion: policies.version,
    controller: record.controller,
    dpo: record.dpo,
    activity: record.activity,
    purposes: policies.purposes.map((purpose) => ({
      id: purpose.id,
      description: purpose.description,
      legalBasis: purpose.legalBasis,
      dataCategories: purpose.dataCategories,
      readableDataStates: purpose.allowedStates,
    })),
    dataSubjects: record.dataSubjects,
    dataCategories: record.dataCategories.map((category) => ({
      id: category.id,
      description: category.description,
      source: category.source,
      retention: retentionStepsOf(policies, category.id),
    })),
    recipients: policies.recipients.map((recipient) => ({
      id: recipient.id,
      name: recipient.name,
      purpose: recipient.purpose,
      legalBasis: recipient.legalBasis,
      form: 'pseudonymized' as const,
      fields: recipient.fields,
    })),
    retention: policies.retention.rules.map((rule) => ({
      dataClass: rule.dataClass,
      ...retentionStep(rule),
    })),
    transfersOutsideEea: record.transfersOutsideEea,
    securityMeasures: record.securityMeasures,
  };
}

/** Plain-text rendering for `returnvault ropa`. */
export function renderRecordOfProcessing(ropa: RecordOfProcessing): string {
  const lines = [
    `Record of processing activities (GDPR Art. 30), policy version ${ropa.policyVersion}`,
    '',
    `Controller: ${ropa.controller.name} <${ropa.controller.contact}>`,
    `Data protection officer: ${ropa.dpo.contact}`,
    `Activity: ${ropa.activity.name}`,
    `  ${ropa.activity.description}`,
    '',
    'Purposes:',
    ...ropa.purposes.map(
      (p) =>
        `  - ${p.id}: ${p.description}\n    legal basis: ${p.legalBasis}\n    data: ${p.dataCategories.join(', ')}; readable states: ${p.readableDataStates.join(', ')}`,
    ),
    '',
    `Data subjects: ${ropa.dataSubjects.join('; ')}`,
    '',
    'Data categories (source; retention):',
    ...ropa.dataCategories.map(
      (c) =>
        `  - ${c.id}: ${c.description}\n    source: ${c.source}\n${c.retention.map((r) => `    ${r.action} ${r.after} after ${r.from} (${r.legalBasis})`).join('\n')}`,
    ),
    '',
    'Recipients (pseudonymized data only):',
    ...ropa.recipients.map(
      (r) =>
        `  - ${r.id} (${r.name}): ${r.purpose}\n    legal basis: ${r.legalBasis}\n    fields: ${r.fields.join(', ')}`,
    ),
    '',
    'Retention schedule:',
    ...ropa.retention.map(
      (r) => `  - ${r.rule}: ${r.dataClass} ${r.action} ${r.after} after ${r.from} (${r.legalBasis})`,
    ),
    '',
    `Transfers outside the EEA: ${ropa.transfersOutsideEea}`,
    '',
    'Security measures (Art. 32):',
    ...ropa.securityMeasures.map((m) => `  - ${m}`),
  ];
  return `${lines.join('\n')}\n`;
}
