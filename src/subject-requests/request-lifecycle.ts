import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import { findSubjectIdByEmail } from '../crypto/subjects';
import { timestampParam } from '../db/sql-timestamp';
import { AppError } from '../http/app-error';
import { effectiveDueAt, extendedDueAt, requestDueAt } from './calendar-month';
import type { ContactChanges } from './rectification-changes';
import { encryptChanges } from './rectification-changes';
import { reasonUpdate } from './request-reasons';
import type { SubjectRequestDeps } from './subject-request-deps';
import {
  openStatuses,
  type SubjectRequestRow,
  type SubjectRequestStatus,
  type SubjectRequestType,
  subjectRequests,
  type VerificationMethod,
} from './subject-requests.schema';

/** Statuses in which a request still awaits its answer, and so can be late. */

/** A receipt a few minutes ahead of our clock is clock skew; further ahead is a mistake. */
const allowedClockSkewMs = 5 * 60_000;

export interface NewSubjectRequest {
  type: SubjectRequestType;
  email: string;
  receivedAt?: Date;
  channel?: string;
  changes?: ContactChanges;
}

/**
 * Records a request. The subject is resolved through the blind index; an unknown e-mail keeps only
 * its digest so the answer can still say whether data appeared in the meantime.
 */
export async function createSubjectRequest(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  input: NewSubjectRequest,
  now: Date,
): Promise<SubjectRequestRow> {
  const receivedAt = input.receivedAt ?? now;
  if (receivedAt.getTime() > now.getTime() + allowedClockSkewMs) {
    throw new AppError('validation_failed', 'receivedAt is in the future.', {
      errors: [{ path: 'body.receivedAt', message: 'must not be in the future' }],
    });
  }
  return deps.db.transaction(async (tx) => {
    // Locked (key share) until commit: an erasure of the subject either ends first, and the e-mail no
    // longer finds it, or waits; rectified values are never encrypted under a key it destroyed.
    const subjectId = (await findSubjectIdByEmail(tx, deps.emailIndex, input.email, { lock: true })) ?? null;
    const digest = subjectId ? null : deps.emailIndex.compute(input.email);
    const id = crypto.randomUUID();
    // Changes for a subject we hold nothing on are not kept: there is nothing to rectify.
    const changesEnc =
      input.type === 'rectification' && input.changes && subjectId
        ? await encryptChanges(tx, deps.keyring, { requestId: id, subjectId }, input.changes)
        : null;
    const [row] = await tx
      .insert(subjectRequests)
      .values({
        id,
        type: input.type,
        subjectId,
        emailIndex: digest?.digest ?? null,
        emailIndexVersion: digest?.version ?? null,
        channel: input.channel ?? null,
        changesEnc,
        receivedAt,
        dueAt: requestDueAt(receivedAt),
        policyVersion: deps.policies.version,
        createdBy: audit.principal?.sub ?? 'anonymous',
      })
      .returning();
    await auditRequest(tx, audit, row!, 'subject_request.create', {
      type: input.type,
      subjectKnown: subjectId !== null,
      dueAt: row!.dueAt.toISOString(),
    });
    return row!;
  });
}

/** The request, locked for the rest of the transaction so two steps on it never interleave. */
export async function lockSubjectRequest(tx: Executor, id: string): Promise<SubjectRequestRow> {
  const [row] = await tx.select().from(subjectRequests).where(eq(subjectRequests.id, id)).for('update');
  if (!row) throw new AppError('not_found', 'No subject request has this id.');
  return row;
}

export async function findSubjectRequest(deps: SubjectRequestDeps, id: string): Promise<SubjectRequestRow> {
  const [row] = await deps.db.select().from(subjectRequests).where(eq(subjectRequests.id, id));
  if (!row) throw new AppError('not_found', 'No subject request has this id.');
  return row;
}

export async function listSubjectRequests(
  deps: SubjectRequestDeps,
  filter: { status?: SubjectRequestStatus; overdue?: boolean; limit: number },
  now: Date,
): Promise<SubjectRequestRow[]> {
  const deadline = sql`coalesce(${subjectRequests.extendedDueAt}, ${subjectRequests.dueAt})`;
  const conditions = [
    filter.status ? eq(subjectRequests.status, filter.status) : undefined,
    filter.overdue
      ? and(inArray(subjectRequests.status, openStatuses), sql`${deadline} < ${timestampParam(now)}`)
      : undefined,
  ];
  return deps.db
    .select()
    .from(subjectRequests)
    .where(and(...conditions))
    .orderBy(asc(deadline), asc(subjectRequests.id))
    .limit(filter.limit);
}

function requireOpen(row: SubjectRequestRow): void {
  if (!(openStatuses as readonly string[]).includes(row.status)) {
    throw new AppError('conflict', `The request is already ${row.status}.`, { requestStatus: row.status });
  }
}

/** Art. 12(6): the controller checks the requester is the data subject before acting. */
export async function verifySubjectRequest(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  method: VerificationMethod,
  now: Date,
): Promise<SubjectRequestRow> {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    if (row.status !== 'received') {
      throw new AppError('conflict', `The request is already ${row.status}.`, { requestStatus: row.status });
    }
    const [updated] = await tx
      .update(subjectRequests)
      .set({
        status: 'verified',
        verificationMethod: method,
        verifiedBy: audit.principal?.sub ?? 'anonymous',
        verifiedAt: now,
        updatedAt: now,
      })
      .where(eq(subjectRequests.id, id))
      .returning();
    await auditRequest(tx, audit, updated!, 'subject_request.verify', { method });
    return updated!;
  });
}

const refusalDetail = {
  already_extended: 'The deadline was already extended once.',
  first_month_over: 'An extension must be decided and told within the first month after receipt.',
  too_many_months: 'An extension adds one or two months.',
} as const;

/** Art. 12(3): once, by at most two months, decided within the first month, with a reason. */
export async function extendSubjectRequest(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  extension: { reason: string; months: number },
  now: Date,
): Promise<SubjectRequestRow> {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    requireOpen(row);
    const decision = extendedDueAt(row, extension.months, now);
    if (!decision.ok) {
      throw new AppError('extension_not_allowed', refusalDetail[decision.refusal], {
        refusal: decision.refusal,
      });
    }
    const [updated] = await tx
      .update(subjectRequests)
      .set({
        extendedDueAt: decision.extendedDueAt,
        ...(await reasonUpdate(tx, deps.keyring, row, 'extension_reason_enc', extension.reason)),
        extendedBy: audit.principal?.sub ?? 'anonymous',
        extendedAt: now,
        updatedAt: now,
      })
      .where(eq(subjectRequests.id, id))
      .returning();
    await auditRequest(tx, audit, updated!, 'subject_request.extend', {
      months: extension.months,
      extendedDueAt: decision.extendedDueAt.toISOString(),
    });
    return updated!;
  });
}

/** Art. 12(4): a refusal gives its reason; pending rectification changes are dropped with it. */
export async function rejectSubjectRequest(
  deps: SubjectRequestDeps,
  audit: AuditContext,
  id: string,
  reason: string,
  now: Date,
): Promise<SubjectRequestRow> {
  return deps.db.transaction(async (tx) => {
    const row = await lockSubjectRequest(tx, id);
    requireOpen(row);
    const [updated] = await tx
      .update(subjectRequests)
      .set({
        status: 'rejected',
        ...(await reasonUpdate(tx, deps.keyring, row, 'rejection_reason_enc', reason)),
        rejectedBy: audit.principal?.sub ?? 'anonymous',
        changesEnc: null,
        completedAt: now,
        updatedAt: now,
      })
      .where(eq(subjectRequests.id, id))
      .returning();
    await auditRequest(tx, audit, updated!, 'subject_request.reject', {});
    return updated!;
  });
}

/** Every step of a request is an audit event: ids, type, status and dates only. */
export async function auditRequest(
  tx: Executor,
  audit: AuditContext,
  row: SubjectRequestRow,
  action: string,
  details: Record<string, unknown>,
): Promise<void> {
  await recordAuditEvent(tx, audit, {
    action,
    outcome: 'success',
    targetType: 'subject_request',
    targetId: row.id,
    subjectRef: row.subjectId,
    details: { type: row.type, status: row.status, policyVersion: row.policyVersion, ...details },
  });
}

export function isOverdue(row: SubjectRequestRow, now: Date): boolean {
  return (openStatuses as readonly string[]).includes(row.status) && effectiveDueAt(row) < now;
}
