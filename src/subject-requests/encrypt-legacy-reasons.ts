import { and, asc, eq, gt, isNotNull, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { DecryptionError } from '../crypto/decryption-errors';
import type { MasterKeyring } from '../crypto/master-keyring';
import type { Database } from '../db/database';
import { encryptHoldReason } from '../legal-holds/hold-reasons';
import { legalHolds } from '../legal-holds/legal-holds.schema';
import { returns } from '../returns/returns.schema';
import { reasonUpdate } from './request-reasons';
import { subjectRequests } from './subject-requests.schema';

const batchSize = 200;

export interface LegacyReasonsOutcome {
  encrypted: number;
  /** No subject, or no live contact key: nothing to keep them under. */
  dropped: number;
  /** The subject's key is wrapped under a master key version this instance lacks: left for a start that has it. */
  skipped: number;
}

/**
 * Walks rows holding clear text in id order, one transaction a batch, locking them SKIP LOCKED so
 * instances starting together share the work. `convert` answers whether the row's text was kept.
 */
async function convertRows<Row extends { id: string }>(
  db: Database,
  outcome: LegacyReasonsOutcome,
  select: (tx: Executor, after: SQL | undefined) => Promise<Row[]>,
  idOf: (after: string) => SQL,
  convert: (tx: Executor, row: Row) => Promise<boolean>,
): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const rows = await db.transaction(async (tx) => {
      const batch = await select(tx, after === undefined ? undefined : idOf(after));
      for (const row of batch) {
        try {
          if (await convert(tx, row)) outcome.encrypted += 1;
          else outcome.dropped += 1;
        } catch (error) {
          // A key this instance cannot unwrap fails before any statement: the transaction goes on.
          if (!(error instanceof DecryptionError)) throw error;
          outcome.skipped += 1;
        }
      }
      return batch;
    });
    if (rows.length < batchSize) return;
    after = rows.at(-1)!.id;
  }
}

/**
 * Before migration 0034, the reasons of subject-request decisions and of legal holds were stored in
 * clear. At start, each is encrypted under its subject's contact key and the clear text nulled; one
 * with no subject, or whose subject was erased, is nulled only (crypto/subject-text.ts).
 */
export async function encryptLegacyReasons(
  db: Database,
  keyring: MasterKeyring,
): Promise<LegacyReasonsOutcome> {
  const outcome: LegacyReasonsOutcome = { encrypted: 0, dropped: 0, skipped: 0 };
  await convertRows(
    db,
    outcome,
    (tx, after) =>
      tx
        .select()
        .from(subjectRequests)
        .where(
          and(
            after,
            or(isNotNull(subjectRequests.extensionReason), isNotNull(subjectRequests.rejectionReason)),
          ),
        )
        .orderBy(asc(subjectRequests.id))
        .limit(batchSize)
        .for('update', { skipLocked: true }),
    (after) => gt(subjectRequests.id, after),
    async (tx, row) => {
      const extension =
        row.extensionReason === null
          ? {}
          : await reasonUpdate(tx, keyring, row, 'extension_reason_enc', row.extensionReason);
      const rejection =
        row.rejectionReason === null
          ? {}
          : await reasonUpdate(tx, keyring, row, 'rejection_reason_enc', row.rejectionReason);
      await tx
        .update(subjectRequests)
        .set({ ...extension, ...rejection, extensionReason: null, rejectionReason: null })
        .where(eq(subjectRequests.id, row.id));
      return Boolean(extension.extensionReasonEnc ?? rejection.rejectionReasonEnc);
    },
  );
  await convertRows(
    db,
    outcome,
    (tx, after) =>
      tx
        .select({
          id: legalHolds.id,
          reason: legalHolds.reason,
          subjectId: legalHolds.subjectId,
          returnSubjectId: returns.subjectId,
        })
        .from(legalHolds)
        .leftJoin(returns, eq(returns.id, legalHolds.returnId))
        .where(and(after, isNotNull(legalHolds.reason)))
        .orderBy(asc(legalHolds.id))
        .limit(batchSize)
        .for('update', { of: legalHolds, skipLocked: true }),
    (after) => gt(legalHolds.id, after),
    async (tx, row) => {
      const subjectId = row.subjectId ?? row.returnSubjectId;
      const reasonEnc = subjectId
        ? await encryptHoldReason(tx, keyring, { holdId: row.id, subjectId }, row.reason!)
        : null;
      await tx.update(legalHolds).set({ reason: null, reasonEnc }).where(eq(legalHolds.id, row.id));
      return reasonEnc !== null;
    },
  );
  return outcome;
}
