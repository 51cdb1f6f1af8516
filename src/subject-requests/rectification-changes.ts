import type { Executor } from '../audit/record-audit-event';
import { loadSubjectKeyset, type SubjectKeyset } from '../crypto/field-cipher';
import type { MasterKeyring } from '../crypto/master-keyring';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { type CreateReturnBody, createReturnBodySchema } from '../returns/return-requests';

/**
 * Art. 16: the contact fields a subject may have corrected, validated exactly as at intake. Kept only
 * until executed, encrypted with the subject's contact key (they are personal data too), then dropped.
 */
export function contactChangesSchema(rules: ReturnRulesPolicy) {
  return createReturnBodySchema(rules)
    .shape.customer.partial()
    .refine((changes) => Object.keys(changes).length > 0, 'at least one field must change');
}

export type ContactChanges = Partial<CreateReturnBody['customer']>;

const changesRef = (requestId: string) => ({
  table: 'subject_requests',
  column: 'changes_enc',
  rowId: requestId,
});

export async function encryptChanges(
  tx: Executor,
  keyring: MasterKeyring,
  target: { requestId: string; subjectId: string },
  changes: ContactChanges,
): Promise<Buffer | null> {
  const keys = await loadSubjectKeyset(tx, keyring, target.subjectId, { create: ['contact'] });
  return keys.encrypt('contact', changesRef(target.requestId), JSON.stringify(changes));
}

/**
 * The pending changes under the subject's keys (loaded by the caller), or null when there are none
 * (or the subject's contact key is gone).
 */
export function decryptChanges(
  keys: SubjectKeyset,
  requestId: string,
  ciphertext: Buffer | null,
): ContactChanges | null {
  if (!ciphertext || keys.isDestroyed('contact')) return null;
  const plaintext = keys.decrypt('contact', changesRef(requestId), ciphertext);
  // Validated before encryption and authenticated by AES-GCM: parsed back as written.
  return plaintext === null ? null : (JSON.parse(plaintext) as ContactChanges);
}
