import { sql } from 'drizzle-orm';
import { type AuditContext, type Executor, recordAuditEvent } from '../audit/record-audit-event';
import type { Principal } from '../auth/principal';
import type { DatabaseHandle } from '../db/database';
import { errorCodeOf, isTransactionConflict, translateDatabaseError } from '../db/database-errors';
import { uuidBeside } from '../db/uuid-text';
import { completeDeferredErasure, deferredErasureSubjects } from '../erasure/erase';
import type { PseudonymsOf } from '../erasure/recipient-notices';
import { AppError } from '../http/app-error';
import type { Policies } from '../policies/load-policies';
import type { RetentionRule } from '../policies/retention-policy';
import type { Signer } from '../signing/signing-key';
import { createForegroundWatch, type ForegroundWatch } from './foreground-activity';
import { tryRetentionLock } from './retention-lock';
import {
  createRun,
  findScheduledRun,
  findUnfinishedRun,
  finishRule,
  finishRun,
  getRun,
  recordBatch,
  reopenRun,
  ruleRowsOf,
  startRule,
  supersedeRun,
} from './retention-run-store';
import type { RetentionRunRow, RetentionRunTrigger } from './retention-runs.schema';
import {
  markRetentionSession,
  type RetentionSessionSettings,
  retentionSessionSettings,
} from './retention-session';
import type { AppliedTarget } from './retention-target';
import { targetFor } from './retention-targets';

export const defaultBatchSize = 500;
/**
 * Lanes: a rule's key space cut into disjoint ranges swept at once, each with its own batches and
 * recorded key. A batch is mostly the database server's work, so a second lane uses a second core:
 * 3,763 against 1,958 returns/s at 1,000,000 returns on 2 cores. Requests would then wait for the CPU
 * (create-return p99 2.5 times its value without a sweep, 1.1 with one lane), so every lane but the
 * first waits while other work is seen in the database (foreground-activity.ts).
 */
export const defaultLanes = 2;
/** Actor of the events a scheduled run writes: no person asked for it. */
export const retentionActor = 'system:retention';

export interface RuleSummary {
  ruleId: string;
  dataClass: string;
  action: string;
  duration: string;
  status: string;
  done: number;
  skippedHeld: number;
  failed: number;
  batches: number;
  durationMs: number | null;
  note: string | null;
}

export interface RunSummary {
  runId: string | null;
  status: string;
  trigger: RetentionRunTrigger;
  dryRun: boolean;
  resumed: boolean;
  asOf: Date;
  policyVersion: string;
  attempts: number;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  rules: RuleSummary[];
  totals: { done: number; skippedHeld: number; failed: number };
}

export interface RetentionProgress {
  ruleId: string;
  ruleIndex: number;
  ruleCount: number;
  /** Rows due for this rule when it started (what is left of it, on a resumed run). */
  ruleDue: number;
  /** Rows this process handled for the rule so far (done + held + failed). */
  ruleHandled: number;
  batch: { done: number; skippedHeld: number; failed: number };
}

export interface RetentionDependencies {
  database: DatabaseHandle;
  policies: Policies;
  /** Recipients' pseudonym keys: erased returns are announced (`return.erased`, Art. 19). */
  pseudonymsOf: PseudonymsOf;
  /** Signs the certificate of an erasure request a hold deferred, once the run completes it. */
  signer: Signer;
  /** Who asked; absent for the schedule. */
  principal?: Principal;
  requestId?: string;
}

export interface RunRetentionOptions {
  asOf?: Date;
  dryRun?: boolean;
  batchSize?: number;
  /** Lanes per rule for a new run (a resumed run keeps its own). */
  lanes?: number;
  trigger?: RetentionRunTrigger;
  /** The cron time of a scheduled run: one run per scheduled time across all instances. */
  scheduledFor?: Date;
  onProgress?: (progress: RetentionProgress) => void;
  /** Called once the run is recorded (after the lock), before the first batch. */
  onStarted?: (summary: RunSummary) => void;
  /** Stops the run between batches; it stays resumable. */
  signal?: AbortSignal;
}

function runInProgressError(): AppError {
  return new AppError('retention_run_in_progress', 'A retention run is in progress; try again when it ends.');
}

function auditContextOf(deps: RetentionDependencies): AuditContext {
  return { principal: deps.principal, requestId: deps.requestId, purpose: 'retention' };
}

const totalsOf = (rules: RuleSummary[]) => ({
  done: rules.reduce((sum, rule) => sum + rule.done, 0),
  skippedHeld: rules.reduce((sum, rule) => sum + rule.skippedHeld, 0),
  failed: rules.reduce((sum, rule) => sum + rule.failed, 0),
});

/** Walks the due rows of an applied rule in key order, the way a run does, without changing them. */
async function* dueBatches(
  executor: Executor,
  target: AppliedTarget,
  rule: RetentionRule,
  asOf: Date,
  size: number,
) {
  let afterKey: string | null = null;
  for (;;) {
    const keys = await target.selectDue(executor, { rule, asOf, afterKey, beforeKey: null }, size, false);
    if (keys.length === 0) return;
    const held = await target.held(executor, keys, asOf);
    yield { keys, held };
    if (keys.length < size) return;
    afterKey = keys.at(-1)!;
  }
}

export interface RulePreview {
  ruleId: string;
  dataClass: string;
  action: string;
  startEvent: string;
  duration: string;
  legalBasis: string;
  /** Rows past their period as of the date. */
  due: number;
  /** Of those, rows a legal hold keeps. */
  held: number;
  /** What a run would act on: due minus held (0 for a reported rule). */
  toApply: number;
  applied: boolean;
  note: string | null;
}

/** What a run as of `asOf` would do, per rule; reads only. */
export async function previewRetention(
  executor: Executor,
  policies: Policies,
  asOf: Date,
  batchSize = 5_000,
): Promise<RulePreview[]> {
  const previews: RulePreview[] = [];
  for (const rule of policies.retention.rules) {
    const target = targetFor(rule);
    const base = {
      ruleId: rule.id,
      dataClass: rule.dataClass,
      action: rule.action,
      startEvent: rule.startEvent,
      duration: rule.duration.iso,
      legalBasis: rule.legalBasis,
    };
    if (target.kind === 'reported') {
      const due = await target.countDue(executor, rule, asOf);
      previews.push({ ...base, due, held: 0, toApply: 0, applied: false, note: target.note });
      continue;
    }
    let due = 0;
    let held = 0;
    for await (const batch of dueBatches(executor, target, rule, asOf, batchSize)) {
      due += batch.keys.length;
      held += batch.held.size;
    }
    previews.push({ ...base, due, held, toApply: due - held, applied: true, note: null });
  }
  return previews;
}

/** A dry run: the preview in the shape of a run, with nothing written anywhere. */
async function dryRun(
  deps: RetentionDependencies,
  asOf: Date,
  batchSize: number,
  trigger: RetentionRunTrigger,
) {
  const startedAt = new Date();
  const previews = await previewRetention(deps.database.db, deps.policies, asOf, batchSize);
  const rules: RuleSummary[] = previews.map((preview) => ({
    ruleId: preview.ruleId,
    dataClass: preview.dataClass,
    action: preview.action,
    duration: preview.duration,
    status: preview.applied ? 'completed' : 'not_applied',
    done: preview.toApply,
    skippedHeld: preview.held,
    failed: 0,
    batches: Math.ceil(preview.due / batchSize),
    durationMs: null,
    note: preview.note,
  }));
  const finishedAt = new Date();
  return {
    runId: null,
    status: 'completed',
    trigger,
    dryRun: true,
    resumed: false,
    asOf,
    policyVersion: deps.policies.version,
    attempts: 1,
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    rules,
    totals: totalsOf(rules),
  } satisfies RunSummary;
}

/** Reads a run and its rules back in the shape the API and the CLI answer with. */
export async function summarizeRun(db: Executor, run: RetentionRunRow, resumed = false): Promise<RunSummary> {
  const rules: RuleSummary[] = (await ruleRowsOf(db, run.id)).map((row) => ({
    ruleId: row.ruleId,
    dataClass: row.dataClass,
    action: row.action,
    duration: row.duration,
    status: row.status,
    done: row.done,
    skippedHeld: row.skippedHeld,
    failed: row.failed,
    batches: row.batches,
    durationMs: row.durationMs,
    note: row.note,
  }));
  return {
    runId: run.id,
    status: run.status,
    trigger: run.trigger,
    dryRun: false,
    resumed: resumed || run.attempts > 1,
    asOf: run.asOf,
    policyVersion: run.policyVersion,
    attempts: run.attempts,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.durationMs,
    rules,
    totals: totalsOf(rules),
  };
}

/**
 * The run to work on. A scheduled time has one run: resumed if a killed instance left it, skipped
 * (undefined) once completed. Otherwise a run that a killed or failed process left unfinished is
 * resumed when it is the same work (same policy version, same as-of date or none asked); any other
 * leftover is superseded: a later as-of date covers everything it had left, and the rows' own state
 * already excludes what it did.
 */
async function openRun(
  deps: RetentionDependencies,
  options: {
    asOf?: Date;
    batchSize: number;
    lanes: number;
    trigger: RetentionRunTrigger;
    scheduledFor?: Date;
  },
): Promise<{ run: RetentionRunRow; resumed: boolean } | undefined> {
  const db = deps.database.db;
  const { policies } = deps;
  const reopen = async (run: RetentionRunRow) => {
    await reopenRun(db, run.id);
    return { run: (await getRun(db, run.id))!, resumed: true };
  };
  const scheduled = options.scheduledFor ? await findScheduledRun(db, options.scheduledFor) : undefined;
  if (scheduled) {
    if (scheduled.status === 'completed' || scheduled.status === 'superseded') return undefined;
    return reopen(scheduled);
  }
  const unfinished = await findUnfinishedRun(db);
  if (unfinished) {
    const sameWork =
      !options.scheduledFor &&
      unfinished.policyVersion === policies.version &&
      (options.asOf === undefined || options.asOf.getTime() === unfinished.asOf.getTime());
    if (sameWork) return reopen(unfinished);
    await supersedeRun(db, unfinished.id);
  }
  const run = await createRun(
    db,
    {
      trigger: options.trigger,
      actor: deps.principal?.sub ?? retentionActor,
      policyVersion: policies.version,
      batchSize: options.batchSize,
      lanes: options.lanes,
      asOf: options.asOf ?? options.scheduledFor ?? new Date(),
      scheduledFor: options.scheduledFor,
    },
    policies.retention.rules,
  );
  return run ? { run, resumed: false } : undefined;
}

function isConnectionFailure(error: unknown): boolean {
  return translateDatabaseError(error)?.code === 'database_unavailable';
}

/** What a run's batches work with: the caller's dependencies and the run's session settings. */
type RunDependencies = RetentionDependencies & { session: RetentionSessionSettings };

/** A lane of a rule's pass: its place (the last committed key) and its end. */
interface Lane {
  index: number;
  afterKey: string | null;
  beforeKey: string | null;
}

/**
 * The lanes the starts cut the due keys into: each from its start (inclusive) to the next
 * (exclusive), the first from the first due key and the last to the last one (inclusive). Rows
 * beyond those were not due when the survey ran (with time-ordered keys, all the newer rows), so the
 * outer lanes do not walk them; one that becomes due during the run (a closing event dated years
 * back, say) is the next run's.
 */
function lanesFrom(laneStarts: string[], due: { firstKey: string; lastKey: string }): Lane[] {
  return [due.firstKey, ...laneStarts].map((start, index) => ({
    index,
    afterKey: uuidBeside(start, -1n),
    beforeKey: index < laneStarts.length ? laneStarts[index]! : uuidBeside(due.lastKey, 1n),
  }));
}

/** One batch: act, record progress and audit it, all in one transaction. Null when nothing is due. */
async function applyBatch(
  deps: RunDependencies,
  run: RetentionRunRow,
  rule: RetentionRule,
  target: AppliedTarget,
  lane: Lane,
  limit: number,
) {
  return deps.database.db.transaction(async (tx) => {
    await markRetentionSession(tx, deps.session);
    const window = { rule, asOf: run.asOf, afterKey: lane.afterKey, beforeKey: lane.beforeKey };
    const keys = await target.selectDue(tx, window, limit, !target.applyLocks);
    if (keys.length === 0) return null;
    const audit = auditContextOf(deps);
    const outcome = await target.apply(tx, keys, {
      rule,
      asOf: run.asOf,
      policies: deps.policies,
      audit,
      pseudonymsOf: deps.pseudonymsOf,
    });
    const lastKey = keys.at(-1)!;
    await recordBatch(tx, run.id, rule.id, {
      done: outcome.done.length,
      skippedHeld: outcome.held.length,
      failed: 0,
      lane: lane.index,
      lastKey,
    });
    await recordAuditEvent(tx, audit, {
      actor: deps.principal ? undefined : retentionActor,
      action: `retention.${rule.action}`,
      outcome: 'success',
      targetType: 'retention_rule',
      targetId: rule.id,
      details: {
        runId: run.id,
        dataClass: rule.dataClass,
        policyVersion: run.policyVersion,
        asOf: run.asOf.toISOString(),
        rowType: target.rowType,
        ids: outcome.done,
        heldIds: outcome.held,
      },
    });
    return { keys, outcome, lastKey };
  });
}

/**
 * A batch that failed is retried row by row, each row its own transaction, so one bad row is
 * counted as failed (and audited) without holding back the others. A lost database stops the run.
 */
async function applyRowByRow(
  deps: RunDependencies,
  run: RetentionRunRow,
  rule: RetentionRule,
  target: AppliedTarget,
  lane: Lane,
  limit: number,
) {
  const db = deps.database.db;
  const totals = { done: 0, skippedHeld: 0, failed: 0 };
  let previous = lane.afterKey;
  let handled = 0;
  while (handled < limit) {
    try {
      const result = await applyBatch(deps, run, rule, target, { ...lane, afterKey: previous }, 1);
      if (!result) break;
      totals.done += result.outcome.done.length;
      totals.skippedHeld += result.outcome.held.length;
      previous = result.lastKey;
    } catch (error) {
      if (isConnectionFailure(error)) throw error;
      // The row that failed is the next due one; it is counted, audited and passed over.
      const window = { rule, asOf: run.asOf, afterKey: previous, beforeKey: lane.beforeKey };
      const [key] = await target.selectDue(db, window, 1, false);
      if (!key) break;
      totals.failed += 1;
      await db.transaction(async (tx) => {
        await recordBatch(tx, run.id, rule.id, {
          done: 0,
          skippedHeld: 0,
          failed: 1,
          lane: lane.index,
          lastKey: key,
        });
        await recordAuditEvent(tx, auditContextOf(deps), {
          actor: deps.principal ? undefined : retentionActor,
          action: `retention.${rule.action}`,
          outcome: 'failure',
          targetType: target.rowType,
          targetId: key,
          details: { runId: run.id, ruleId: rule.id, error: errorCodeOf(error) },
        });
      });
      previous = key;
    }
    handled += 1;
  }
  return { count: handled, totals, lastKey: previous };
}

/**
 * A transaction of the run, tried again (up to five times) when it lost a deadlock or a serialization
 * race: two lanes can lock the same subject (its returns in both) in opposite orders, and the loser's
 * whole batch is rolled back.
 */
async function retriedOnConflict<T>(transaction: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transaction();
    } catch (error) {
      if (attempt >= 5 || !isTransactionConflict(error)) throw error;
    }
  }
}

function applyBatchRetried(...args: Parameters<typeof applyBatch>) {
  return retriedOnConflict(() => applyBatch(...args));
}

/**
 * The rows due when a rule starts (its progress, its lanes, or a reported rule's note) are counted by
 * one process only: a parallel plan of this count takes every core from requests for seconds (at
 * 1,000,000 returns), for figures that only feed a progress bar, a note and where lanes begin. With
 * memory enough to hash the due returns' ids at once (55 MB at 1,000,000) the count takes 2.8 s
 * instead of 6.4 s spilling to disk at the default 4 MB; no batch runs until it is done.
 */
function countingAlone<T>(db: Executor, count: (tx: Executor) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`select set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', '64MB', true)`,
    );
    return count(tx);
  });
}

async function runRule(
  deps: RunDependencies,
  run: RetentionRunRow,
  rule: RetentionRule,
  position: { index: number; count: number; laneKeys: (string | null)[] },
  options: {
    batchSize: number;
    onProgress?: RunRetentionOptions['onProgress'];
    signal?: AbortSignal;
    foreground: ForegroundWatch;
  },
) {
  const { batchSize, onProgress, signal, foreground } = options;
  const db = deps.database.db;
  const target = targetFor(rule);
  if (target.kind === 'reported') {
    const due = await countingAlone(db, (tx) => target.countDue(tx, rule, run.asOf));
    await finishRule(db, run.id, rule.id, 'not_applied', `${target.note} (${due} due)`);
    return;
  }
  const survey = await countingAlone(db, (tx) => target.surveyDue(tx, rule, run.asOf, run.lanes));
  const ruleDue = survey.due;
  // A resumed rule keeps the starts it recorded: its lanes' keys belong to those ranges.
  const laneStarts = await startRule(db, run.id, rule.id, survey.laneStarts);
  const { firstKey, lastKey } = survey;
  const lanes =
    firstKey === null || lastKey === null
      ? []
      : lanesFrom(laneStarts, { firstKey, lastKey }).map((lane) => ({
          ...lane,
          afterKey: position.laneKeys[lane.index] ?? lane.afterKey,
        }));
  let handled = 0;
  let stopped = false;
  // The first unfinished lane never waits for quiet: the sweep always goes on, one lane at least.
  const unfinished = new Set(lanes.map((lane) => lane.index));
  const leads = (lane: Lane) => Math.min(...unfinished) === lane.index;
  const sweepLane = async (lane: Lane) => {
    while (!stopped) {
      await foreground.untilQuiet(() => leads(lane) || stopped || signal?.aborted === true);
      signal?.throwIfAborted();
      let step: { count: number; lastKey: string | null; batch: RetentionProgress['batch'] };
      try {
        const result = await applyBatchRetried(deps, run, rule, target, lane, batchSize);
        if (!result) return;
        step = {
          count: result.keys.length,
          lastKey: result.lastKey,
          batch: { done: result.outcome.done.length, skippedHeld: result.outcome.held.length, failed: 0 },
        };
      } catch (error) {
        if (isConnectionFailure(error)) throw error;
        const result = await applyRowByRow(deps, run, rule, target, lane, batchSize);
        step = { count: result.count, lastKey: result.lastKey, batch: result.totals };
      }
      handled += step.count;
      lane.afterKey = step.lastKey;
      onProgress?.({
        ruleId: rule.id,
        ruleIndex: position.index,
        ruleCount: position.count,
        ruleDue,
        ruleHandled: handled,
        batch: step.batch,
      });
      if (step.count < batchSize) return;
    }
  };
  // A lane that fails stops the others after their current batch; the run fails once all have stopped.
  const settled = await Promise.allSettled(
    lanes.map((lane) =>
      sweepLane(lane)
        .finally(() => unfinished.delete(lane.index))
        .catch((error: unknown) => {
          stopped = true;
          throw error;
        }),
    ),
  );
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  const [row] = (await ruleRowsOf(db, run.id)).filter((candidate) => candidate.ruleId === rule.id);
  await finishRule(db, run.id, rule.id, row && row.failed > 0 ? 'failed' : 'completed');
}

/**
 * Runs every retention rule as of a date, once across all instances (advisory lock), in batches that
 * each commit their action, their progress and their audit event together. Killed at any point, the
 * next run resumes the same run after its last committed batch. Throws `retention_run_in_progress`
 * when another run holds the lock; answers undefined for a scheduled time that already ran.
 */
export async function runRetention(
  deps: RetentionDependencies,
  options: RunRetentionOptions = {},
): Promise<RunSummary | undefined> {
  const batchSize = options.batchSize ?? defaultBatchSize;
  const lanes = options.lanes ?? defaultLanes;
  const trigger = options.trigger ?? 'api';
  if (options.dryRun) return dryRun(deps, options.asOf ?? new Date(), batchSize, trigger);

  const lock = await tryRetentionLock(deps.database.url);
  if (!lock) throw runInProgressError();
  try {
    const opened = await openRun(deps, { ...options, batchSize, lanes, trigger });
    if (!opened) return undefined;
    const { run, resumed } = opened;
    const db = deps.database.db;
    const runDeps = { ...deps, session: await retentionSessionSettings(db) };
    options.onStarted?.(await summarizeRun(db, run, resumed));
    const foreground = createForegroundWatch(db);
    try {
      const rows = await ruleRowsOf(db, run.id);
      for (const [index, row] of rows.entries()) {
        if (row.status === 'completed' || row.status === 'not_applied') continue;
        const rule = deps.policies.retention.rules.find((candidate) => candidate.id === row.ruleId);
        if (!rule) continue;
        await runRule(
          runDeps,
          run,
          rule,
          { index, count: rows.length, laneKeys: row.laneKeys },
          { batchSize, onProgress: options.onProgress, signal: options.signal, foreground },
        );
      }
      // Erasure requests a legal hold deferred, whose hold has ended on its `until` (a release
      // completes them at once): done now, as the request asked.
      const deferred = {
        audit: auditContextOf(deps),
        policies: deps.policies,
        now: run.asOf,
        origin: 'deferred_request' as const,
        pseudonymsOf: deps.pseudonymsOf,
        signer: deps.signer,
      };
      for (const subjectId of await deferredErasureSubjects(db, deferred)) {
        options.signal?.throwIfAborted();
        await retriedOnConflict(() =>
          db.transaction((tx) => completeDeferredErasure(tx, subjectId, deferred)),
        );
      }
      const failed = (await ruleRowsOf(db, run.id)).some((row) => row.status === 'failed');
      await finishRun(db, run.id, 'completed', failed ? 'rows_failed' : undefined);
    } catch (error) {
      await finishRun(db, run.id, 'failed', errorCodeOf(error)).catch(() => {});
      throw error;
    }
    return summarizeRun(db, (await getRun(db, run.id))!, resumed);
  } finally {
    await lock.release();
  }
}
