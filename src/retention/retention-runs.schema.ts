import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const retentionRunStatuses = ['running', 'completed', 'failed', 'superseded'] as const;
export type RetentionRunStatus = (typeof retentionRunStatuses)[number];

export const retentionRunTriggers = ['schedule', 'api', 'cli'] as const;
export type RetentionRunTrigger = (typeof retentionRunTriggers)[number];

/**
 * One retention run. A scheduled run carries the cron time it was due at: the unique (job,
 * scheduled_for) pair lets one instance only record it, behind the advisory lock. A run left `running`
 * by a killed process is resumed by the next run of the same as-of date and policy version.
 */
export const retentionRuns = pgTable(
  'retention_runs',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    job: text('job').notNull().default('retention'),
    scheduledFor: timestamp('scheduled_for', { withTimezone: true, mode: 'date' }),
    trigger: text('trigger', { enum: retentionRunTriggers }).notNull(),
    actor: text('actor').notNull(),
    asOf: timestamp('as_of', { withTimezone: true, mode: 'date' }).notNull(),
    policyVersion: text('policy_version').notNull(),
    batchSize: integer('batch_size').notNull(),
    /** How many lanes (disjoint key ranges) each rule is swept in at once; kept for a resumed run. */
    lanes: integer('lanes').notNull().default(1),
    status: text('status', { enum: retentionRunStatuses }).notNull().default('running'),
    /** How many processes worked on it: more than one when a killed run was resumed. */
    attempts: integer('attempts').notNull().default(1),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
    durationMs: integer('duration_ms'),
    /** An error code or class name, never a message that could quote data. */
    failure: text('failure'),
  },
  (table) => [
    uniqueIndex('retention_runs_job_scheduled_for_key').on(table.job, table.scheduledFor),
    index('retention_runs_started_at_idx').on(table.startedAt),
    index('retention_runs_status_idx').on(table.status),
  ],
);

export const retentionRuleStatuses = ['pending', 'running', 'completed', 'failed', 'not_applied'] as const;
export type RetentionRuleStatus = (typeof retentionRuleStatuses)[number];

/**
 * Progress of one rule within a run, updated in the transaction of each batch: the counts and the
 * last processed key always describe exactly what committed, so a resumed run starts after it.
 */
export const retentionRunRules = pgTable(
  'retention_run_rules',
  {
    runId: uuid('run_id')
      .notNull()
      .references(() => retentionRuns.id, { onDelete: 'cascade' }),
    ruleId: text('rule_id').notNull(),
    position: integer('position').notNull(),
    dataClass: text('data_class').notNull(),
    action: text('action').notNull(),
    duration: text('duration').notNull(),
    status: text('status', { enum: retentionRuleStatuses }).notNull().default('pending'),
    done: integer('done').notNull().default(0),
    skippedHeld: integer('skipped_held').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    batches: integer('batches').notNull().default(0),
    /**
     * Where each lane but the first begins (its first key), cut when the rule first starts at the
     * quantiles of the keys then due, and kept for the rest of the run so a resumed lane keeps its
     * range. Null until then.
     */
    laneStarts: text('lane_starts').array(),
    /** The last committed key of each lane (null: the lane has not started). */
    laneKeys: text('lane_keys').array().notNull().default(sql`'{}'::text[]`),
    /** Why a rule was not applied (e.g. the audit log is append-only); never personal data. */
    note: text('note'),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
    durationMs: integer('duration_ms'),
  },
  (table) => [
    primaryKey({ columns: [table.runId, table.ruleId] }),
    check(
      'retention_run_rules_counts_non_negative',
      sql`${table.done} >= 0 and ${table.skippedHeld} >= 0 and ${table.failed} >= 0`,
    ),
  ],
);

export type RetentionRunRow = typeof retentionRuns.$inferSelect;
export type RetentionRunRuleRow = typeof retentionRunRules.$inferSelect;
