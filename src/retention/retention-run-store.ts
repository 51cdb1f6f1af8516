import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { arrayParam } from '../db/array-param';
import type { RetentionRule } from '../policies/retention-policy';
import {
  type RetentionRuleStatus,
  type RetentionRunRow,
  type RetentionRunRuleRow,
  type RetentionRunTrigger,
  retentionRunRules,
  retentionRuns,
} from './retention-runs.schema';

/** Data access for the run tables: the engine's bookkeeping, nothing else writes them. */

export interface NewRun {
  trigger: RetentionRunTrigger;
  actor: string;
  asOf: Date;
  policyVersion: string;
  batchSize: number;
  lanes: number;
  scheduledFor?: Date;
}

/** Creates the run and one pending row per rule; undefined when the scheduled time already has a run. */
export async function createRun(
  db: Executor,
  run: NewRun,
  rules: readonly RetentionRule[],
): Promise<RetentionRunRow | undefined> {
  return db.transaction(async (tx) => {
    const [created] = await tx
      .insert(retentionRuns)
      .values({ ...run, scheduledFor: run.scheduledFor ?? null })
      .onConflictDoNothing()
      .returning();
    if (!created) return undefined;
    await tx.insert(retentionRunRules).values(
      rules.map((rule, position) => ({
        runId: created.id,
        ruleId: rule.id,
        position,
        dataClass: rule.dataClass,
        action: rule.action,
        duration: rule.duration.iso,
      })),
    );
    return created;
  });
}

export async function findScheduledRun(
  db: Executor,
  scheduledFor: Date,
): Promise<RetentionRunRow | undefined> {
  const [row] = await db
    .select()
    .from(retentionRuns)
    .where(and(eq(retentionRuns.job, 'retention'), eq(retentionRuns.scheduledFor, scheduledFor)));
  return row;
}

/**
 * The latest run that a killed, stopped or failed process left unfinished.
 * Only called under the advisory lock, so no live process is working on it.
 */
export async function findUnfinishedRun(db: Executor): Promise<RetentionRunRow | undefined> {
  const [row] = await db
    .select()
    .from(retentionRuns)
    .where(inArray(retentionRuns.status, ['running', 'failed']))
    .orderBy(desc(retentionRuns.startedAt))
    .limit(1);
  return row;
}

export async function reopenRun(db: Executor, runId: string): Promise<void> {
  await db
    .update(retentionRuns)
    .set({ status: 'running', attempts: sql`${retentionRuns.attempts} + 1`, failure: null, finishedAt: null })
    .where(eq(retentionRuns.id, runId));
}

export async function supersedeRun(db: Executor, runId: string): Promise<void> {
  await db
    .update(retentionRuns)
    .set({ status: 'superseded', finishedAt: new Date() })
    .where(eq(retentionRuns.id, runId));
}

export async function ruleRowsOf(db: Executor, runId: string): Promise<RetentionRunRuleRow[]> {
  return db
    .select()
    .from(retentionRunRules)
    .where(eq(retentionRunRules.runId, runId))
    .orderBy(asc(retentionRunRules.position));
}

/**
 * Marks the rule running and answers the lane starts it keeps: `laneStarts` the first time, the ones
 * recorded then when the rule is resumed (its lanes' recorded keys belong to those ranges).
 */
export async function startRule(
  db: Executor,
  runId: string,
  ruleId: string,
  laneStarts: string[],
): Promise<string[]> {
  const [row] = await db
    .update(retentionRunRules)
    .set({
      status: 'running',
      startedAt: sql`coalesce(${retentionRunRules.startedAt}, now())`,
      laneStarts: sql`coalesce(${retentionRunRules.laneStarts}, ${arrayParam(laneStarts, 'text')})`,
    })
    .where(and(eq(retentionRunRules.runId, runId), eq(retentionRunRules.ruleId, ruleId)))
    .returning({ laneStarts: retentionRunRules.laneStarts });
  if (!row?.laneStarts) throw new Error(`retention run ${runId} has no rule ${ruleId}`);
  return row.laneStarts;
}

/**
 * Adds one batch's counts and moves its lane's key; called inside the batch's own transaction. Lanes
 * of a rule update the same row: the second waits for the first to commit, then adds to its counts
 * and sets only its own element of `lane_keys`.
 */
export async function recordBatch(
  tx: Executor,
  runId: string,
  ruleId: string,
  batch: { done: number; skippedHeld: number; failed: number; lane: number; lastKey: string },
): Promise<void> {
  await tx.execute(sql`
    update ${retentionRunRules} set
      done = done + ${batch.done},
      skipped_held = skipped_held + ${batch.skippedHeld},
      failed = failed + ${batch.failed},
      batches = batches + 1,
      lane_keys[${batch.lane + 1}] = ${batch.lastKey}
    where run_id = ${runId} and rule_id = ${ruleId}`);
}

export async function finishRule(
  db: Executor,
  runId: string,
  ruleId: string,
  status: RetentionRuleStatus,
  note?: string,
): Promise<void> {
  await db
    .update(retentionRunRules)
    .set({
      status,
      note: note ?? null,
      finishedAt: sql`now()`,
      startedAt: sql`coalesce(${retentionRunRules.startedAt}, now())`,
      durationMs: sql`(extract(epoch from now() - coalesce(${retentionRunRules.startedAt}, now())) * 1000)::int`,
    })
    .where(and(eq(retentionRunRules.runId, runId), eq(retentionRunRules.ruleId, ruleId)));
}

export async function finishRun(
  db: Executor,
  runId: string,
  status: 'completed' | 'failed',
  failure?: string,
): Promise<void> {
  await db
    .update(retentionRuns)
    .set({
      status,
      failure: failure ?? null,
      finishedAt: sql`now()`,
      durationMs: sql`(extract(epoch from now() - ${retentionRuns.startedAt}) * 1000)::int`,
    })
    .where(eq(retentionRuns.id, runId));
}

export async function getRun(db: Executor, runId: string): Promise<RetentionRunRow | undefined> {
  const [row] = await db.select().from(retentionRuns).where(eq(retentionRuns.id, runId));
  return row;
}

/** The latest runs, newest first. */
export async function listRuns(db: Executor, limit: number): Promise<RetentionRunRow[]> {
  return db.select().from(retentionRuns).orderBy(desc(retentionRuns.startedAt)).limit(limit);
}
