import { eq, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { DataClass } from '../crypto/data-classes';
import { loadSubjectKeyset } from '../crypto/field-cipher';
import { findSubjectIdByEmail } from '../crypto/subjects';
import { subjects } from '../crypto/subjects.schema';
import { announceRectification } from '../erasure/recipient-notices';
import { AppError } from '../http/app-error';
import { postalArea } from '../returns/postal-codes';
import {
  decryptReturnPersonalData,
  encryptReturnPersonalData,
  type ReturnPersonalData,
} from '../returns/return-personal-data';
import { findReturnsOfSubject } from '../returns/return-repository';
import { returns } from '../returns/returns.schema';
import type { ContactChanges } from './rectification-changes';
import type { SubjectRequestDeps } from './subject-request-deps';

const readable: ReadonlySet<DataClass> = new Set(['contact', 'payment']);

export interface RectificationOutcome {
  changedFields: string[];
  returns: number;
  emailIndexMoved: boolean;
}

function applyChanges(personal: ReturnPersonalData, changes: ContactChanges): ReturnPersonalData {
  return {
    ...personal,
    name: changes.name ?? personal.name,
    email: changes.email ?? personal.email,
    phone: changes.phone ?? personal.phone,
    // A new address replaces the whole address: a missing second line is no second line.
    ...(changes.address
      ? {
          line1: changes.address.line1,
          line2: changes.address.line2 ?? null,
          postalCode: changes.address.postalCode,
          city: changes.address.city,
        }
      : {}),
  };
}

/**
 * Moves the subject's blind index to the new e-mail. Another subject already found by that e-mail is
 * a conflict for the DPO to settle: two people's records are never merged automatically.
 */
async function moveEmailIndex(tx: Executor, deps: SubjectRequestDeps, subjectId: string, email: string) {
  const owner = await findSubjectIdByEmail(tx, deps.emailIndex, email);
  if (owner === subjectId) return false;
  if (owner !== undefined) {
    throw new AppError('conflict', 'Another data subject is already known by the new e-mail address.');
  }
  const { digest, version } = deps.emailIndex.compute(email);
  await tx
    .update(subjects)
    .set({ emailIndex: digest, emailIndexVersion: version })
    .where(eq(subjects.id, subjectId));
  return true;
}

/**
 * Art. 16: re-encrypts the contact fields of every return still holding contact data. Each update
 * moves the return in the pseudonymized feed (trigger), so recipients receive the corrected record.
 */
export async function rectifySubject(
  tx: Executor,
  deps: SubjectRequestDeps,
  subjectId: string,
  changes: ContactChanges,
): Promise<RectificationOutcome> {
  // Held until commit, as an erasure holds it: one waits for the other and then sees what it did,
  // so a rectification never writes an e-mail index or ciphertext back onto an erased subject.
  const [subject] = await tx
    .select({ erasedAt: subjects.erasedAt })
    .from(subjects)
    .where(eq(subjects.id, subjectId))
    .for('update');
  const nothing = { changedFields: [], returns: 0, emailIndexMoved: false };
  if (!subject || subject.erasedAt !== null) return nothing;
  const keys = await loadSubjectKeyset(tx, deps.keyring, subjectId);
  if (keys.isDestroyed('contact')) return nothing;
  const emailIndexMoved = changes.email ? await moveEmailIndex(tx, deps, subjectId, changes.email) : false;
  const rows = (await findReturnsOfSubject(tx, subjectId, {})).filter((row) => row.erasedAt === null);
  for (const row of rows) {
    const corrected = applyChanges(decryptReturnPersonalData(keys, row, readable), changes);
    const { ibanEnc: _payment, ...contactColumns } = encryptReturnPersonalData(keys, row.id, corrected);
    await tx
      .update(returns)
      .set({
        ...contactColumns,
        ...(changes.address
          ? {
              country: changes.address.country,
              postalArea: postalArea(changes.address.country, changes.address.postalCode),
            }
          : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(returns.id, row.id));
  }
  await announceRectification(
    tx,
    deps.policies,
    deps.pseudonymsOf,
    rows.map((row) => ({ id: row.id, merchantId: row.merchantId })),
  );
  return { changedFields: Object.keys(changes).sort(), returns: rows.length, emailIndexMoved };
}
