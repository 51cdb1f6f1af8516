import { sql } from 'drizzle-orm';
import { integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const rotationStatuses = ['running', 'completed', 'superseded', 'failed'] as const;

/**
 * One re-wrap of every data key to a master key version. Each batch commits its re-wrapped keys and
 * these counters in one transaction, so the row is the checkpoint a killed run resumes from.
 */
export const keyRotationJobs = pgTable(
  'key_rotation_jobs',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    targetVersion: text('target_version').notNull(),
    status: text('status', { enum: rotationStatuses }).notNull().default('running'),
    /** Live data keys not on the target version when the job started. */
    total: integer('total').notNull(),
    rewrapped: integer('rewrapped').notNull().default(0),
    /**
     * Keys the current pass could not unwrap (altered or corrupt): left as they are, so one bad key does
     * not keep the old version in use forever. A key under a version the runner lacks is not one of them.
     */
    unreadable: integer('unreadable').notNull().default(0),
    batches: integer('batches').notNull().default(0),
    /** Why a failed job stopped (a code and a version, never key material). */
    error: text('error'),
    requestedBy: text('requested_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  // At most one running job, across every instance.
  (table) => [uniqueIndex('key_rotation_jobs_one_running').on(table.status).where(sql`status = 'running'`)],
);

export type KeyRotationJob = typeof keyRotationJobs.$inferSelect;
