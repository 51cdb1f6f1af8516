import type { Executor } from '../audit/record-audit-event';
import type { MasterKeyring } from '../crypto/master-keyring';
import { decryptSubjectTexts, encryptSubjectText } from '../crypto/subject-text';
import { isAnyOf } from '../db/array-param';
import { returns } from '../returns/returns.schema';
import type { LegalHoldRow } from './legal-holds.schema';

/** Where a hold's reason is stored, for the AAD that binds it there. */
const reasonRef = (holdId: string) => ({ table: 'legal_holds', column: 'reason_enc', rowId: holdId });

/** The reason of a new hold, under the contact key of the subject it covers (crypto/subject-text.ts). */
export function encryptHoldReason(
  tx: Executor,
  keyring: MasterKeyring,
  target: { holdId: string; subjectId: string },
  reason: string,
): Promise<Buffer | null> {
  return encryptSubjectText(tx, keyring, target.subjectId, reasonRef(target.holdId), reason);
}

/**
 * The reasons of these holds by hold id: null where none was kept, or the subject has been erased
 * since. A hold on one return is read under that return's subject.
 */
export async function holdReasons(
  executor: Executor,
  keyring: MasterKeyring,
  holds: readonly LegalHoldRow[],
): Promise<Map<string, string | null>> {
  const returnIds = holds.flatMap((hold) => (hold.returnId && hold.reasonEnc ? [hold.returnId] : []));
  const subjectOfReturn = new Map(
    returnIds.length === 0
      ? []
      : (
          await executor
            .select({ id: returns.id, subjectId: returns.subjectId })
            .from(returns)
            .where(isAnyOf(returns.id, returnIds))
        ).map((row) => [row.id, row.subjectId]),
  );
  const reasons = await decryptSubjectTexts(
    executor,
    keyring,
    holds.map((hold) => ({
      subjectId: hold.subjectId ?? (hold.returnId ? (subjectOfReturn.get(hold.returnId) ?? null) : null),
      ref: reasonRef(hold.id),
      ciphertext: hold.reasonEnc,
    })),
  );
  return new Map(holds.map((hold, index) => [hold.id, reasons[index] ?? null]));
}
