import { and, eq, ne } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { loadSubjectKeyset } from '../crypto/field-cipher';
import { lockSubject } from '../crypto/subjects';
import { eraseSubject } from '../erasure/erase';
import { signErasureCertificate } from '../erasure/erasure-certificate';
import type { ErasureOutcome } from '../erasure/erasure-outcome';
import { AppError } from '../http/app-error';
import { buildSubjectPackage } from './access-package';
import { decryptChanges } from './rectification-changes';
import { rectifySubject } from './rectify-subject';
import { auditRequest, lockSubjectRequest } from './request-lifecycle';
import { resolveSubject } from './request-subject';
import { liftSubjectRestriction, restrictionNotLifted, restrictSubject } from './restrict-subject';
import type { SubjectRequestDeps } from './subject-request-deps';
import { type SubjectRequestRow, subjectRequests } from './subject-requests.schema';

function requireExecutable(row: SubjectRequestRow): void {
  if (row.status === 'received') {
    throw new AppError(
      'request_not_verified',
      "Verify the requester's identity before executing the request.",
    );
  }
  if (row.status === 'rejected')
    throw new AppError('conflict', 'The request was rejected.', { requestStatus: row.status });
}

async function eraseForRequest(
  tx: Executor,
  deps: SubjectRequestDeps,
  audit: AuditContext,
  row: SubjectRequestRow,
  subjectId: string | null,
  now: Date,
): Promise<Record<string, unknown>> {
  const outcome: ErasureOutcome = subjectId
    ? await eraseSubject(tx, subjectId, {
        audit,
        policies: deps.policies,
        now,
        origin: 'subject_request',
        pseudonymsOf: deps.pseudonymsOf,
      })
    : { erased: [], kept: [] };
  const certificate = await signErasureCertificate(deps.signer, {
    requestId: row.id,
    subjectId,
    erasedAt: now,
    erased: outcome.erased,
    kept: outcome.kept,
    policyVersion: deps.policies.version,
  });
  return { dataHeld: subjectId !== null, erasedAt: now.toISOString(), ...outcome, certificate };
}

async function performRequest(
  tx: Executor,
  deps: SubjectRequestDeps,
  audit: AuditContext,
  row: SubjectRequestRow,
  subjectId: string | null,
  now: Date,
): Promise<Record<string, unknown>> {
  switch (row.type) {
    case 'access':
    case 'portability': {
      const pack = await buildSubjectPackage(deps, tx, { id: row.id, type: row.type, subjectId }, now);
      // The answer itself is fetched from GET /:id/package; the record keeps what it covered.
      return {
        dataHeld: pack.dataHeld,
        returns: (pack.returns ?? pack.providedData ?? []).length,
        package: `/v1/subject-requests/${row.id}/package`,
      };
    }
    case 'erasure':
      return eraseForRequest(tx, deps, audit, row, subjectId, now);
    case 'rectification': {
      const keys = subjectId ? await loadSubjectKeyset(tx, deps.keyring, subjectId) : undefined;
      if (keys && !keys.isDestroyed('contact') && row.changesEnc === null) {
        // Received when nothing was held on the e-mail, its changes were not kept (there was no key
        // to encrypt them under); data has arrived since, whether the request was tied to it since
        // (a decision, a blind-index claim) or not. Completing it would report a rectification that
        // changed nothing: the changes must be received again. (An erasure that shredded the subject
        // since nulled them too: then there is nothing to rectify.)
        throw new AppError(
          'conflict',
          'Data is now held on this e-mail, but the request was received before any was and its changes were not kept: reject it and receive the changes again.',
          { reason: 'changes_not_kept' },
        );
      }
      const changes = keys ? decryptChanges(keys, row.id, row.changesEnc) : null;
      if (!subjectId || !changes) return { dataHeld: subjectId !== null, changedFields: [], returns: 0 };
      return { dataHeld: true, ...(await rectifySubject(tx, deps, subjectId, changes)) };
    }
    case 'restriction':
      if (!subjectId) return { dataHeld: false, restrictedReturns: 0 };
      return {
        dataHeld: true,
        restrictedReturns: await restrictSubject(tx, subjectId, now),
        restrictedAt: now.toISOString(),
      };
  }
}

/**
 * Executes a verified request in one transaction: the action, its audit events and the completed
 * record commit together or not at all. Executing a completed request again answers its result.
 */
export async function executeSubjectRequest(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  now: Date,
): Promise<SubjectRequestRow> {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    if (row.status === 'completed') return row;
    requireExecutable(row);
    const subjectId = await resolveSubject(tx, row);
    const result = await performRequest(tx, deps, audit, row, subjectId, now);
    const [completed] = await tx
      .update(subjectRequests)
      .set({
        status: 'completed',
        subjectId,
        emailIndex: subjectId ? null : row.emailIndex,
        emailIndexVersion: subjectId ? null : row.emailIndexVersion,
        changesEnc: null,
        result,
        completedAt: now,
        executedBy: audit.principal?.sub ?? 'anonymous',
        policyVersion: deps.policies.version,
        updatedAt: now,
      })
      .where(eq(subjectRequests.id, id))
      .returning();
    await auditRequest(tx, audit, completed!, 'subject_request.execute', {
      dataHeld: subjectId !== null,
      returns: typeof result.returns === 'number' ? result.returns : undefined,
    });
    return completed!;
  });
}

/** Art. 15 / 20: the package, built live; fetching it starts the work on a verified request. */
export async function subjectRequestPackage(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  now: Date,
) {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    if (row.type !== 'access' && row.type !== 'portability') {
      throw new AppError('conflict', 'Only access and portability requests have a package.');
    }
    requireExecutable(row);
    const subjectId = await resolveSubject(tx, row);
    const pack = await buildSubjectPackage(deps, tx, { id: row.id, type: row.type, subjectId }, now);
    if (row.status === 'verified') {
      await tx
        .update(subjectRequests)
        .set({ status: 'in_progress', updatedAt: now })
        .where(eq(subjectRequests.id, id));
    }
    await auditRequest(tx, audit, { ...row, subjectId }, 'subject_request.package', {
      dataHeld: pack.dataHeld,
      returns: (pack.returns ?? pack.providedData ?? []).length,
    });
    return pack;
  });
}

/** Art. 18(3): lifting a restriction is its own decision, recorded on the restriction request. */
export async function liftRestriction(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  now: Date,
): Promise<SubjectRequestRow> {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    if (row.type !== 'restriction' || row.status !== 'completed') {
      throw new AppError('conflict', 'Only a completed restriction request can be lifted.');
    }
    if (row.result?.liftedAt) return row;
    // Another restriction of the subject still in force keeps the data restricted: this one is
    // lifted on its own record only, and says which request still holds it. The subject is locked
    // first, so two lifts at once see each other's outcome.
    if (row.subjectId) await lockSubject(tx, row.subjectId, 'update');
    const others = row.subjectId
      ? (
          await tx
            .select({ id: subjectRequests.id })
            .from(subjectRequests)
            .where(
              and(
                eq(subjectRequests.subjectId, row.subjectId),
                ne(subjectRequests.id, row.id),
                restrictionNotLifted,
              ),
            )
        ).map((other) => other.id)
      : [];
    const lifted = row.subjectId && others.length === 0 ? await liftSubjectRestriction(tx, row.subjectId) : 0;
    const [updated] = await tx
      .update(subjectRequests)
      .set({
        result: {
          ...row.result,
          liftedAt: now.toISOString(),
          liftedBy: audit.principal?.sub ?? 'anonymous',
          liftedReturns: lifted,
          ...(others.length > 0 ? { restrictionRemainsUnder: others } : {}),
        },
        updatedAt: now,
      })
      .where(eq(subjectRequests.id, id))
      .returning();
    await auditRequest(tx, audit, updated!, 'subject_request.lift_restriction', { returns: lifted });
    return updated!;
  });
}
