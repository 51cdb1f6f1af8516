import { sql } from 'drizzle-orm';
import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { declareEncryptedColumns } from '../crypto/encryption-map';
import { bytea } from '../db/bytea';

export const subjectRequestTypes = [
  'access',
  'erasure',
  'rectification',
  'restriction',
  'portability',
] as const;
export type SubjectRequestType = (typeof subjectRequestTypes)[number];

export const subjectRequestStatuses = [
  'received',
  'verified',
  'in_progress',
  'completed',
  'rejected',
] as const;
export type SubjectRequestStatus = (typeof subjectRequestStatuses)[number];

/** The statuses of a request not yet answered. */
export const openStatuses = ['received', 'verified', 'in_progress'] as const satisfies SubjectRequestStatus[];

export const verificationMethods = ['email_link', 'account_login', 'document', 'other'] as const;
export type VerificationMethod = (typeof verificationMethods)[number];

/**
 * A data-subject request (GDPR Art. 12 to 22) and its answer, kept as proof of compliance. The
 * e-mail is never stored: the subject is referenced by id, or, while no subject is known for it, by
 * the keyed blind index of the e-mail (removed when the subject is erased). Rectification changes
 * are encrypted with the subject's contact key until executed, then dropped. The reasons of an
 * extension or a rejection are encrypted under the same key and go with it at erasure (none is kept
 * for a request with no subject: nothing to encrypt them under).
 * `result` holds ids, classes, dates and legal bases only.
 */
export const subjectRequests = pgTable(
  'subject_requests',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    type: text('type', { enum: subjectRequestTypes }).notNull(),
    status: text('status', { enum: subjectRequestStatuses }).notNull().default('received'),
    // No foreign key: the request is proof of compliance and outlives the subject's data.
    subjectId: uuid('subject_id'),
    emailIndex: bytea('email_index'),
    emailIndexVersion: text('email_index_version'),
    channel: text('channel'),
    changesEnc: bytea('changes_enc'),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
    dueAt: timestamp('due_at', { withTimezone: true, mode: 'date' }).notNull(),
    extendedDueAt: timestamp('extended_due_at', { withTimezone: true, mode: 'date' }),
    /** Clear text from before migration 0034, encrypted at start (encrypt-legacy-reasons.ts). */
    extensionReason: text('extension_reason'),
    extensionReasonEnc: bytea('extension_reason_enc'),
    extendedBy: text('extended_by'),
    extendedAt: timestamp('extended_at', { withTimezone: true, mode: 'date' }),
    verificationMethod: text('verification_method', { enum: verificationMethods }),
    verifiedBy: text('verified_by'),
    verifiedAt: timestamp('verified_at', { withTimezone: true, mode: 'date' }),
    /** Clear text, as `extension_reason`. */
    rejectionReason: text('rejection_reason'),
    rejectionReasonEnc: bytea('rejection_reason_enc'),
    rejectedBy: text('rejected_by'),
    result: jsonb('result').$type<Record<string, unknown>>(),
    policyVersion: text('policy_version').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
    executedBy: text('executed_by'),
  },
  (table) => [
    index('subject_requests_status_due_idx').on(table.status, table.dueAt),
    index('subject_requests_subject_idx').on(table.subjectId),
    index('subject_requests_email_index_idx').on(table.emailIndex),
  ],
);

// Pending rectifications, and the reasons written to the person (which may name them), are personal
// data: encrypted with the subject's contact key, and shredded with it.
declareEncryptedColumns('subject_requests', {
  changes_enc: 'contact',
  extension_reason_enc: 'contact',
  rejection_reason_enc: 'contact',
});

export type SubjectRequestRow = typeof subjectRequests.$inferSelect;
