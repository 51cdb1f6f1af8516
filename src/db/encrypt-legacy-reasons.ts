import { eq, isNotNull, or } from 'drizzle-orm';
import type { MasterKeyring } from '../crypto/master-keyring';
import { encryptHoldReason } from '../legal-holds/hold-reasons';
import { legalHolds } from '../legal-holds/legal-holds.schema';
import { returns } from '../returns/returns.schema';
import { encryptRequestReason } from '../subject-requests/request-reasons';
import { subjectRequests } from '../subject-requests/subject-requests.schema';
import type { Database } from './database';

const batchSize = 200;

/**
 * Before migration 0034, the reasons of subject-request decisions and of legal holds were stored in
 * clear. At start, each is encrypted under its subject's contact key and the clear text is nulled; one
 * with no subject, or whose subject was erased, is nulled only (crypto/subject-text.ts). Batches lock
 * their rows SKIP LOCKED, so instances starting together share the work. Answers the counts.
 */
export async function encryptLegacyReasons(
  db: Database,
  keyring: MasterKeyring,
): Promise<{ encrypted: number; dropped: number }> {
  let encrypted = 0;
  let dropped = 0;
  const count = (ciphertext: Buffer | null) => {
    if (ciphertext) encrypted += 1;
    else dropped += 1;
    return ciphertext;
  };
  for (;;) {
    const done = await db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(subjectRequests)
        .where(or(isNotNull(subjectRequests.extensionReason), isNotNull(subjectRequests.rejectionReason)))
        .limit(batchSize)
        .for('update', { skipLocked: true });
      for (const row of rows) {
        const encrypt = async (
          column: 'extension_reason_enc' | 'rejection_reason_enc',
          text: string | null,
        ) => (text === null ? undefined : count(await encryptRequestReason(tx, keyring, row, column, text)));
        await tx
          .update(subjectRequests)
          .set({
            extensionReason: null,
            rejectionReason: null,
            extensionReasonEnc:
              (await encrypt('extension_reason_enc', row.extensionReason)) ?? row.extensionReasonEnc,
            rejectionReasonEnc:
              (await encrypt('rejection_reason_enc', row.rejectionReason)) ?? row.rejectionReasonEnc,
          })
          .where(eq(subjectRequests.id, row.id));
      }
      return rows.length < batchSize;
    });
    if (done) break;
  }
  for (;;) {
    const done = await db.transaction(async (tx) => {
      const rows = await tx
        .select({
          id: legalHolds.id,
          reason: legalHolds.reason,
          subjectId: legalHolds.subjectId,
          returnSubjectId: returns.subjectId,
        })
        .from(legalHolds)
        .leftJoin(returns, eq(returns.id, legalHolds.returnId))
        .where(isNotNull(legalHolds.reason))
        .limit(batchSize)
        .for('update', { of: legalHolds, skipLocked: true });
      for (const row of rows) {
        const subjectId = row.subjectId ?? row.returnSubjectId;
        const reasonEnc = subjectId
          ? await encryptHoldReason(tx, keyring, { holdId: row.id, subjectId }, row.reason!)
          : null;
        count(reasonEnc);
        await tx.update(legalHolds).set({ reason: null, reasonEnc }).where(eq(legalHolds.id, row.id));
      }
      return rows.length < batchSize;
    });
    if (done) break;
  }
  return { encrypted, dropped };
}
