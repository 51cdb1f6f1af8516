import { randomUUID } from 'node:crypto';
import { and, desc, eq, isNotNull, isNull } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { EmailBlindIndex } from '../crypto/blind-index';
import type { MasterKeyring } from '../crypto/master-keyring';
import { findSubjectIdByEmail, lockSubject } from '../crypto/subjects';
import type { Database } from '../db/database';
import { completeDeferredErasure, deferredErasureSubjects } from '../erasure/erase';
import type { PseudonymsOf } from '../erasure/recipient-notices';
import { AppError } from '../http/app-error';
import type { Policies } from '../policies/load-policies';
import { returns } from '../returns/returns.schema';
import type { Signer } from '../signing/signing-key';
import { encryptHoldReason } from './hold-reasons';
import { type LegalHoldRow, legalHolds } from './legal-holds.schema';

export interface NewLegalHold {
  email?: string;
  returnId?: string;
  reason: string;
  until?: Date;
}

async function holdTarget(
  tx: Executor,
  emailIndex: EmailBlindIndex,
  input: NewLegalHold,
): Promise<{ subjectId: string | null; returnId: string | null; subjectRef: string }> {
  // The target is locked until the hold commits, against an erasure or a retention batch that locks
  // it FOR UPDATE: one waits for the other, so a batch never acts on data a hold committed meanwhile.
  if (input.returnId) {
    const returnOf = (lock: boolean) => {
      const query = tx
        .select({ subjectId: returns.subjectId })
        .from(returns)
        .where(eq(returns.id, input.returnId!));
      return lock ? query.for('share') : query;
    };
    const [found] = await returnOf(false);
    if (!found) throw new AppError('not_found', 'No return has this id.');
    // Subject, then return: the order an erasure locks them in (the reason is written under the
    // subject's key, which holds it), so the two wait for each other instead of deadlocking.
    await lockSubject(tx, found.subjectId, 'key share');
    const [row] = await returnOf(true);
    if (!row) throw new AppError('not_found', 'No return has this id.');
    return { subjectId: null, returnId: input.returnId, subjectRef: row.subjectId };
  }
  const subjectId = await findSubjectIdByEmail(tx, emailIndex, input.email!, { lock: true });
  if (!subjectId) throw new AppError('not_found', 'No data is held for this e-mail address.');
  return { subjectId, returnId: null, subjectRef: subjectId };
}

/** Places a hold: erasure and retention leave what it covers until it is released or ends. */
export async function createLegalHold(
  db: Database,
  keys: { emailIndex: EmailBlindIndex; keyring: MasterKeyring },
  audit: AuditContext,
  input: NewLegalHold,
): Promise<LegalHoldRow> {
  return db.transaction(async (tx) => {
    const target = await holdTarget(tx, keys.emailIndex, input);
    const id = randomUUID();
    const [hold] = await tx
      .insert(legalHolds)
      .values({
        id,
        subjectId: target.subjectId,
        returnId: target.returnId,
        reasonEnc: await encryptHoldReason(
          tx,
          keys.keyring,
          { holdId: id, subjectId: target.subjectRef },
          input.reason,
        ),
        until: input.until ?? null,
        createdBy: audit.principal?.sub ?? 'anonymous',
      })
      .returning();
    await recordAuditEvent(tx, audit, {
      action: 'legal_hold.create',
      outcome: 'success',
      targetType: 'legal_hold',
      targetId: hold!.id,
      subjectRef: target.subjectRef,
      details: {
        on: target.returnId ? 'return' : 'subject',
        returnId: target.returnId,
        until: input.until ?? null,
      },
    });
    return hold!;
  });
}

/**
 * What completing a deferred erasure needs: the retention periods, the recipients' pseudonyms and the
 * key that signs the completion's certificate on the erasure request.
 */
export interface HoldReleaseDeps {
  policies: Policies;
  pseudonymsOf: PseudonymsOf;
  signer: Signer;
}

/**
 * Releases a hold; releasing a released hold changes nothing and answers the same. What the hold kept
 * from an erasure request, and no other hold covers, is erased in the same transaction (Art. 17: the
 * hold only deferred it).
 */
export async function releaseLegalHold(
  db: Database,
  deps: HoldReleaseDeps,
  audit: AuditContext,
  id: string,
): Promise<LegalHoldRow> {
  return db.transaction(async (tx) => {
    const now = new Date();
    const [hold] = await tx.select().from(legalHolds).where(eq(legalHolds.id, id));
    if (!hold) throw new AppError('not_found', 'No legal hold has this id.');
    const [heldReturn] = hold.returnId
      ? await tx.select({ subjectId: returns.subjectId }).from(returns).where(eq(returns.id, hold.returnId))
      : [];
    const subjectId = hold.subjectId ?? heldReturn?.subjectId;
    // The subject is locked before the release, as an erasure locks it: releases of two holds on one
    // subject then run one after the other, and the second sees the first and completes the erasure.
    if (subjectId) {
      await lockSubject(tx, subjectId, 'update');
    }
    const [released] = await tx
      .update(legalHolds)
      .set({ releasedAt: now, releasedBy: audit.principal?.sub ?? 'anonymous' })
      .where(and(eq(legalHolds.id, id), isNull(legalHolds.releasedAt)))
      .returning();
    // Released meanwhile by another call, which this one waited for: answer the row as it is now.
    if (!released) return (await tx.select().from(legalHolds).where(eq(legalHolds.id, id)))[0]!;
    const context = {
      audit,
      policies: deps.policies,
      now,
      origin: 'deferred_request' as const,
      pseudonymsOf: deps.pseudonymsOf,
      signer: deps.signer,
    };
    const deferred =
      subjectId !== undefined && (await deferredErasureSubjects(tx, context, [subjectId])).length > 0;
    const deferredErasures = deferred ? await completeDeferredErasure(tx, subjectId!, context) : 0;
    await recordAuditEvent(tx, audit, {
      action: 'legal_hold.release',
      outcome: 'success',
      targetType: 'legal_hold',
      targetId: id,
      subjectRef: subjectId ?? null,
      details: {
        on: released.returnId ? 'return' : 'subject',
        returnId: released.returnId,
        deferredErasures,
      },
    });
    return released;
  });
}

export async function listLegalHolds(
  db: Database,
  filter: { released?: boolean; limit: number },
): Promise<LegalHoldRow[]> {
  const condition =
    filter.released === undefined
      ? undefined
      : filter.released
        ? isNotNull(legalHolds.releasedAt)
        : isNull(legalHolds.releasedAt);
  return db
    .select()
    .from(legalHolds)
    .where(condition)
    .orderBy(desc(legalHolds.createdAt))
    .limit(filter.limit);
}
