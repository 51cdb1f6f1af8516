import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { type ProcessingRecordPolicy, processingRecordPolicySchema } from './processing-record-policy';
import { type PurposesPolicy, purposesPolicySchema } from './purposes-policy';
import { type RecipientsPolicy, recipientsPolicySchema } from './recipients-policy';
import { type RetentionPolicy, retentionPolicySchema } from './retention-policy';
import { type ReturnRulesPolicy, returnRulesPolicySchema } from './return-rules-policy';
import { type WebhooksPolicy, webhooksPolicySchema } from './webhooks-policy';

/** A policy file that cannot be used; the message names the file and the path inside it. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** Every policy file the service reads, with the schema that validates it. */
export const policyFiles = {
  purposes: { file: 'purposes.yaml', schema: purposesPolicySchema },
  returnRules: { file: 'return-rules.yaml', schema: returnRulesPolicySchema },
  retention: { file: 'retention.yaml', schema: retentionPolicySchema },
  recipients: { file: 'recipients.yaml', schema: recipientsPolicySchema },
  webhooks: { file: 'webhooks.yaml', schema: webhooksPolicySchema },
  processingRecord: { file: 'processing-record.yaml', schema: processingRecordPolicySchema },
} as const;

export interface Policies {
  /** Content hash of every policy file: recorded by each retention run and subject request. */
  version: string;
  purposes: PurposesPolicy['purposes'];
  returnRules: ReturnRulesPolicy;
  /** Retention rules (data class, start event, duration, action), enforced by src/retention. */
  retention: RetentionPolicy;
  /** Backend systems that may read the pseudonymized feed, each with its field allowlist. */
  recipients: RecipientsPolicy['recipients'];
  webhookSubscriptions: WebhooksPolicy['subscriptions'];
  /** Controller, data categories and their sources, security measures, rights: Art. 30 and Art. 15. */
  processingRecord: ProcessingRecordPolicy;
}

function loadFile<S extends z.ZodType>(
  dir: string,
  file: string,
  schema: S,
): { value: z.infer<S>; raw: string } {
  const fullPath = path.join(dir, file);
  if (!existsSync(fullPath)) throw new PolicyError(`policy error: ${fullPath}: file is missing`);
  const raw = readFileSync(fullPath, 'utf8');
  let document: unknown;
  try {
    document = parseYaml(raw);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` line ${error.linePos[0].line}` : '';
    throw new PolicyError(`policy error: ${fullPath}:${where} not valid YAML`);
  }
  const result = schema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    throw new PolicyError(`policy error: ${fullPath}: ${at}: ${issue.message}`);
  }
  return { value: result.data, raw };
}

/** Loads and validates every policy file; throws PolicyError on the first problem. */
export function loadPolicies(dir: string): Policies {
  const hash = createHash('sha256');
  const loaded: Record<string, unknown> = {};
  for (const [key, { file, schema }] of Object.entries(policyFiles)) {
    const { value, raw } = loadFile(dir, file, schema);
    hash.update(`${file}\0${raw}\0`);
    loaded[key] = value;
  }
  const purposes = loaded.purposes as PurposesPolicy;
  return {
    version: hash.digest('hex').slice(0, 16),
    purposes: purposes.purposes,
    returnRules: loaded.returnRules as ReturnRulesPolicy,
    retention: loaded.retention as RetentionPolicy,
    recipients: (loaded.recipients as RecipientsPolicy).recipients,
    webhookSubscriptions: (loaded.webhooks as WebhooksPolicy).subscriptions,
    processingRecord: loaded.processingRecord as ProcessingRecordPolicy,
  };
}
