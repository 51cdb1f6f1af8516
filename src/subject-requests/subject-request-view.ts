import { z } from 'zod';
import { effectiveDueAt } from './calendar-month';
import { isOverdue } from './request-lifecycle';
import type { RequestReasons } from './request-reasons';
import {
  type SubjectRequestRow,
  subjectRequestStatuses,
  subjectRequestTypes,
  verificationMethods,
} from './subject-requests.schema';

/** A request as the API shows it: ids, dates, decisions and the answer's summary, never personal data. */
export const subjectRequestSchema = z
  .object({
    id: z.uuid(),
    type: z.enum(subjectRequestTypes),
    status: z.enum(subjectRequestStatuses),
    subjectId: z
      .uuid()
      .nullable()
      .meta({ description: 'Random subject id; null while no data is held on the e-mail' }),
    channel: z.string().nullable(),
    receivedAt: z.string(),
    dueAt: z.string().meta({ description: 'One calendar month after receipt (Art. 12(3))' }),
    extendedDueAt: z.string().nullable(),
    effectiveDueAt: z.string(),
    overdue: z.boolean(),
    // A reason is null when not kept: the request's e-mail had no data held, or its subject was erased.
    extension: z.object({ reason: z.string().nullable(), by: z.string(), at: z.string() }).nullable(),
    verification: z
      .object({ method: z.enum(verificationMethods), by: z.string(), at: z.string() })
      .nullable(),
    rejection: z.object({ reason: z.string().nullable(), by: z.string() }).nullable(),
    pendingChanges: z
      .boolean()
      .meta({ description: 'Rectification changes held (encrypted) until execution' }),
    result: z.record(z.string(), z.unknown()).nullable(),
    recipients: z
      .array(
        z.object({
          recipientId: z.string(),
          lastDisclosedAt: z.string().nullable(),
          returnsTold: z.number().int().meta({ description: 'tombstones of erased returns it has read' }),
          lastToldAt: z.string().nullable(),
        }),
      )
      .optional()
      .meta({
        description:
          'GET of one erasure request: the recipients the subject was disclosed to and how far each was told of the erasure (Art. 19)',
      }),
    policyVersion: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .meta({ id: 'SubjectRequest' });

export type SubjectRequestView = z.infer<typeof subjectRequestSchema>;

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function toSubjectRequestView(
  row: SubjectRequestRow,
  reasons: RequestReasons,
  now: Date,
): SubjectRequestView {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    subjectId: row.subjectId,
    channel: row.channel,
    receivedAt: row.receivedAt.toISOString(),
    dueAt: row.dueAt.toISOString(),
    extendedDueAt: iso(row.extendedDueAt),
    effectiveDueAt: effectiveDueAt(row).toISOString(),
    overdue: isOverdue(row, now),
    extension: row.extendedAt
      ? { reason: reasons.extension, by: row.extendedBy ?? '', at: row.extendedAt.toISOString() }
      : null,
    verification:
      row.verificationMethod && row.verifiedAt
        ? { method: row.verificationMethod, by: row.verifiedBy ?? '', at: row.verifiedAt.toISOString() }
        : null,
    rejection: row.status === 'rejected' ? { reason: reasons.rejection, by: row.rejectedBy ?? '' } : null,
    pendingChanges: row.changesEnc !== null,
    result: row.result,
    policyVersion: row.policyVersion,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    completedAt: iso(row.completedAt),
  };
}
