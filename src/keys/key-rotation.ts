import { setTimeout as sleep } from 'node:timers/promises';
import { and, asc, count, eq, isNotNull, ne, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { type AuditContext, type Executor, recordAuditEvent } from '../audit/record-audit-event';
import { DecryptionError } from '../crypto/decryption-errors';
import type { MasterKeyring } from '../crypto/master-keyring';
import { subjectDataKeys } from '../crypto/subject-data-keys.schema';
import type { Database, DatabaseHandle } from '../db/database';
import { isTransientDatabaseError } from '../db/database-errors';
import { AppError } from '../http/app-error';
import { type KeyRotationJob, keyRotationJobs } from './key-rotation-jobs.schema';

// One runner across every instance: a session advisory lock on a connection of its own.
const rotationLockKey = 7_311_002;
export const defaultBatchSize = 500;
// A batch that meets a deadlock or a lost connection waits 0.2 s, 0.4 s, ... 12.8 s (25 s in all):
// long enough for a database failover, short enough that a dead database stops the runner.
const defaultTransientRetry = { attempts: 8, firstDelayMs: 200 };

const liveKeysOffVersion = (version: string) =>
  and(isNotNull(subjectDataKeys.wrappedKey), ne(subjectDataKeys.kekVersion, version));

async function runningJob(executor: Executor, lock = false): Promise<KeyRotationJob | undefined> {
  const query = executor.select().from(keyRotationJobs).where(eq(keyRotationJobs.status, 'running'));
  const [job] = lock ? await query.for('update') : await query;
  return job;
}

/** Whether some session holds the runner's lock (runRotationJob), that is, a runner is re-wrapping. */
async function rotationRunnerActive(tx: Executor): Promise<boolean> {
  const [row] = (await tx.execute(sql`
    select exists (select 1 from pg_locks where locktype = 'advisory' and granted
      and database = (select oid from pg_database where datname = current_database())
      and classid = 0 and objid = ${rotationLockKey} and objsubid = 1) as active`)) as unknown as {
    active: boolean;
  }[];
  return row?.active === true;
}

/**
 * Starts a re-wrap of every data key to the active master key version, or returns the job already
 * running for it. A job running for an older target (a version this keyring holds) is superseded: the
 * new one covers its keys too. A job running for a version this keyring lacks is taken for a newer one
 * (an instance configured later started it, as in a rolling deploy): the start is refused, unless
 * `supersede` says no instance holds that version any more (a rollback, a mistyped version), when the
 * job would otherwise stay running and refuse every later start.
 */
export async function startRotation(
  db: Database,
  keyring: MasterKeyring,
  audit: AuditContext & { actor?: string },
  options: { supersede?: boolean } = {},
): Promise<KeyRotationJob> {
  const targetVersion = keyring.activeVersion;
  return db.transaction(async (tx) => {
    // A second pass only when a concurrent start took the one running slot first: decide against its job.
    for (;;) {
      const running = await runningJob(tx, true);
      if (running?.targetVersion === targetVersion) return running;
      const unknownTarget = running !== undefined && !keyring.has(running.targetVersion);
      // A runner holds the lock only while it can re-wrap: one is at work on the job, so some instance
      // does hold its version, and an override (an instance of the older release, say) would undo it.
      if (unknownTarget && options.supersede && (await rotationRunnerActive(tx))) {
        throw new AppError(
          'conflict',
          `A key rotation to ${running.targetVersion} is being run by an instance that holds that version; it is not replaced.`,
          { rotationId: running.id, targetVersion: running.targetVersion },
        );
      }
      if (unknownTarget && !options.supersede) {
        throw new AppError(
          'conflict',
          `A key rotation to ${running.targetVersion} is running; MASTER_KEYS on this instance (active ` +
            `${targetVersion}) does not hold that newer version, so the rotation is left to finish. If no ` +
            `instance holds ${running.targetVersion} any more, start again with supersede.`,
          { rotationId: running.id, targetVersion: running.targetVersion },
        );
      }
      if (running) {
        await tx
          .update(keyRotationJobs)
          .set({ status: 'superseded', updatedAt: sql`now()`, finishedAt: sql`now()` })
          .where(eq(keyRotationJobs.id, running.id));
      }
      const [pending] = await tx
        .select({ total: count() })
        .from(subjectDataKeys)
        .where(liveKeysOffVersion(targetVersion));
      const [job] = await tx
        .insert(keyRotationJobs)
        .values({
          targetVersion,
          total: pending!.total,
          requestedBy: audit.actor ?? audit.principal?.sub ?? 'system',
        })
        .onConflictDoNothing()
        .returning();
      if (!job) continue;
      await recordAuditEvent(tx, audit, {
        actor: audit.actor,
        action: 'key.rotation.start',
        outcome: 'success',
        targetType: 'key_rotation_job',
        targetId: job.id,
        details: {
          targetVersion,
          dataKeys: job.total,
          supersededJob: running?.id ?? null,
          supersededTargetVersion: running?.targetVersion ?? null,
          // The operator's override: the superseded job targeted a version this instance lacks.
          forcedSupersede: unknownTarget,
        },
      });
      return job;
    }
  });
}

/** The job by its id, whatever its status. */
export async function findRotationJob(db: Database, id: string): Promise<KeyRotationJob | undefined> {
  const [job] = await db.select().from(keyRotationJobs).where(eq(keyRotationJobs.id, id));
  return job;
}

interface KeyId {
  subjectId: string;
  dataClass: string;
}

/**
 * A runner's pass over the keys of one job, in key order. The next batch starts after `after`, the
 * last key the batches went through, so a key that could not be unwrapped is not met again until the
 * next pass. `unreadable` holds those keys by `subjectId:dataClass`: a batch tried again after its
 * commit (the reply lost) meets its keys again, and counts them once.
 */
interface Pass {
  jobId: string;
  after: KeyId | undefined;
  unreadable: ReadonlyMap<string, KeyId>;
}

type BatchResult =
  | { outcome: 'idle' }
  | { outcome: 'target_unavailable'; job: KeyRotationJob }
  | { outcome: 'source_unavailable'; job: KeyRotationJob; kekVersion: string }
  | { outcome: 'batch'; job: KeyRotationJob; pass: Pass | undefined };

/**
 * The end of a pass. Completes the job only when every live key left off the target is one the pass
 * counted unreadable: keys written behind the pass meanwhile (a destroyed key given a new one by an
 * instance on an older MASTER_KEYS) were never met, and then a new pass starts from the first key.
 * The unreadable count is what is left, so keys repaired or erased since are not counted.
 */
async function endPass(tx: Executor, job: KeyRotationJob, pass: Pass): Promise<BatchResult> {
  const counted = [...pass.unreadable.values()];
  const isCounted = sql`exists (
    select from unnest(
      ${sql.param(counted.map((key) => key.subjectId))}::uuid[],
      ${sql.param(counted.map((key) => key.dataClass))}::text[]
    ) as u(subject_id, data_class)
    where u.subject_id = ${subjectDataKeys.subjectId} and u.data_class = ${subjectDataKeys.dataClass})`;
  const [left] = await tx
    .select({ total: count(), unmet: sql<number>`count(*) filter (where not ${isCounted})`.mapWith(Number) })
    .from(subjectDataKeys)
    .where(liveKeysOffVersion(job.targetVersion));
  if (left!.unmet > 0) return { outcome: 'batch', job, pass: undefined };
  const [completed] = await tx
    .update(keyRotationJobs)
    .set({ status: 'completed', unreadable: left!.total, updatedAt: sql`now()`, finishedAt: sql`now()` })
    .where(eq(keyRotationJobs.id, job.id))
    .returning();
  await recordAuditEvent(
    tx,
    {},
    {
      actor: 'key-rotation',
      action: 'key.rotation.complete',
      outcome: 'success',
      targetType: 'key_rotation_job',
      targetId: job.id,
      details: {
        targetVersion: job.targetVersion,
        rewrapped: job.rewrapped,
        unreadable: left!.total,
        batches: job.batches,
      },
    },
  );
  return { outcome: 'batch', job: completed!, pass: undefined };
}

/**
 * One batch, one transaction: re-wraps up to `batchSize` live keys not yet on the target version and
 * advances the job's counters. Keys already on the target are never selected again, so a run killed
 * at any point resumes without re-wrapping anything twice. A key that does not unwrap (altered or
 * corrupt) is left as it is and counted. A key under a master key version this keyring lacks stops the
 * run instead, the job left running: skipped, it would let the job complete with the key still on a
 * version the operator is then told to remove, while an instance holding that version can re-wrap it.
 */
async function rewrapBatch(
  tx: Executor,
  keyring: MasterKeyring,
  batchSize: number,
  previous: Pass | undefined,
): Promise<BatchResult> {
  // A job superseded while this read waited for its row is skipped, and the job that replaced it is
  // newer than the read's snapshot: a second read sees it, so the runner does not stop for nothing.
  const job = (await runningJob(tx, true)) ?? (await runningJob(tx, true));
  if (!job) return { outcome: 'idle' };
  if (!keyring.has(job.targetVersion)) return { outcome: 'target_unavailable', job };
  // A pass counts afresh: its first batch meets again every key an earlier pass could not unwrap.
  const pass: Pass =
    previous?.jobId === job.id ? previous : { jobId: job.id, after: undefined, unreadable: new Map() };
  const { after } = pass;
  const keys = await tx
    .select({
      subjectId: subjectDataKeys.subjectId,
      dataClass: subjectDataKeys.dataClass,
      wrappedKey: subjectDataKeys.wrappedKey,
      kekVersion: subjectDataKeys.kekVersion,
    })
    .from(subjectDataKeys)
    .where(
      and(
        liveKeysOffVersion(job.targetVersion),
        after &&
          sql`(${subjectDataKeys.subjectId}, ${subjectDataKeys.dataClass}) > (${after.subjectId}::uuid, ${after.dataClass})`,
      ),
    )
    .orderBy(asc(subjectDataKeys.subjectId), asc(subjectDataKeys.dataClass))
    .limit(batchSize)
    .for('update');
  if (keys.length === 0) return endPass(tx, job, pass);
  const missing = keys.find((key) => !keyring.has(key.kekVersion!));
  if (missing) return { outcome: 'source_unavailable', job, kekVersion: missing.kekVersion! };

  const fromVersions: Record<string, number> = {};
  const rewrapped: { subjectId: string; dataClass: string; wrappedHex: string }[] = [];
  // The pass's unreadable keys with this batch's: the job shows their number, set rather than added to.
  const unreadable = new Map(pass.unreadable);
  // Which keys this batch met and why (a reason code and a version, never key material), for whoever
  // repairs them.
  const unreadableHere: (KeyId & { kekVersion: string; reason: string })[] = [];
  for (const key of keys) {
    const ctx = { subjectId: key.subjectId, dataClass: key.dataClass };
    try {
      const dek = keyring.unwrap(key.wrappedKey!, key.kekVersion!, ctx);
      const { wrapped } = keyring.wrap(dek, ctx, job.targetVersion);
      dek.fill(0);
      rewrapped.push({
        subjectId: key.subjectId,
        dataClass: key.dataClass,
        wrappedHex: wrapped.toString('hex'),
      });
      fromVersions[key.kekVersion!] = (fromVersions[key.kekVersion!] ?? 0) + 1;
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      unreadable.set(`${key.subjectId}:${key.dataClass}`, ctx);
      unreadableHere.push({ ...ctx, kekVersion: key.kekVersion!, reason: error.reason });
    }
  }
  // One statement for the whole batch: the arrays travel as three parameters.
  await tx.execute(sql`
    update subject_data_keys as k
    set wrapped_key = decode(u.wrapped_hex, 'hex'), kek_version = ${job.targetVersion}, wrapped_at = now()
    from unnest(
      ${sql.param(rewrapped.map((key) => key.subjectId))}::uuid[],
      ${sql.param(rewrapped.map((key) => key.dataClass))}::text[],
      ${sql.param(rewrapped.map((key) => key.wrappedHex))}::text[]
    ) as u(subject_id, data_class, wrapped_hex)
    where k.subject_id = u.subject_id and k.data_class = u.data_class`);
  const [progressed] = await tx
    .update(keyRotationJobs)
    .set({
      rewrapped: sql`${keyRotationJobs.rewrapped} + ${rewrapped.length}`,
      unreadable: unreadable.size,
      batches: sql`${keyRotationJobs.batches} + 1`,
      updatedAt: sql`now()`,
    })
    .where(eq(keyRotationJobs.id, job.id))
    .returning();
  await recordAuditEvent(
    tx,
    {},
    {
      actor: 'key-rotation',
      action: 'key.rewrap.batch',
      outcome: 'success',
      targetType: 'key_rotation_job',
      targetId: job.id,
      details: {
        targetVersion: job.targetVersion,
        rewrapped: rewrapped.length,
        fromVersions,
        unreadable: unreadableHere,
      },
    },
  );
  const last = keys[keys.length - 1]!;
  return {
    outcome: 'batch',
    job: progressed!,
    pass: { jobId: job.id, after: { subjectId: last.subjectId, dataClass: last.dataClass }, unreadable },
  };
}

export interface RotationRunOptions {
  batchSize?: number;
  /** Stop (as if killed) after this many batches; the job stays running and resumes later. */
  maxBatches?: number;
  signal?: AbortSignal;
  onProgress?: (job: KeyRotationJob) => void;
  /** Tries of a batch that fails transiently; the wait before each retry doubles from `firstDelayMs`. */
  transientRetry?: { attempts: number; firstDelayMs: number };
}

export type RotationRunResult =
  | { outcome: 'busy' | 'idle' }
  | {
      outcome: 'completed' | 'failed' | 'superseded' | 'stopped' | 'target_unavailable';
      job: KeyRotationJob;
    }
  | { outcome: 'source_unavailable'; job: KeyRotationJob; kekVersion: string };

/**
 * Runs the running job to its end, batch after batch, if no other instance is running it. Answers
 * `busy` when another runner holds the lock, `idle` when no job is running, and, leaving the job
 * running for an instance configured with the version this keyring lacks, `target_unavailable` (the
 * job's target) or `source_unavailable` (the version `kekVersion` that wraps data keys still to
 * re-wrap).
 */
export async function runRotationJob(
  database: DatabaseHandle,
  keyring: MasterKeyring,
  options: RotationRunOptions = {},
): Promise<RotationRunResult> {
  // Most calls (every server start) find nothing to do: answer that without opening a connection.
  const running = await runningJob(database.db);
  if (!running) return { outcome: 'idle' };
  // Without taking the lock, which an instance holding the target version may be about to take.
  if (!keyring.has(running.targetVersion)) return { outcome: 'target_unavailable', job: running };
  const retry = options.transientRetry ?? defaultTransientRetry;
  // The session lock lives as long as this connection: postgres.js must not close it after its
  // max_lifetime (30 to 60 minutes by default) while a long re-wrap goes on.
  const lock = postgres(database.url, { max: 1, max_lifetime: null, idle_timeout: 0, onnotice: () => {} });
  const takeLock = async () => {
    const [row] = await lock`select pg_try_advisory_lock(${rotationLockKey}) as locked`;
    return row?.locked === true;
  };
  try {
    if (!(await takeLock())) return { outcome: 'busy' };
    let pass: Pass | undefined;
    for (let batches = 0, failures = 0; ; ) {
      if (options.signal?.aborted || (options.maxBatches !== undefined && batches >= options.maxBatches)) {
        const job = await runningJob(database.db);
        return job ? { outcome: 'stopped', job } : { outcome: 'idle' };
      }
      let step: BatchResult;
      try {
        // A lost connection takes the session lock with it: take it again, unless another runner has.
        if (failures > 0 && !(await takeLock())) return { outcome: 'busy' };
        step = await database.db.transaction((tx) =>
          rewrapBatch(tx, keyring, options.batchSize ?? defaultBatchSize, pass),
        );
      } catch (error) {
        failures += 1;
        if (failures >= retry.attempts || !isTransientDatabaseError(error)) throw error;
        // An abort ends the wait early; the loop then stops.
        await sleep(retry.firstDelayMs * 2 ** (failures - 1), undefined, { signal: options.signal }).catch(
          () => {},
        );
        continue;
      }
      failures = 0;
      batches += 1;
      if (step.outcome !== 'batch') return step;
      pass = step.pass;
      options.onProgress?.(step.job);
      if (step.job.status !== 'running') return { outcome: step.job.status, job: step.job };
    }
  } finally {
    await lock.end({ timeout: 5 });
  }
}

export interface KeyStatus {
  activeVersion: string;
  configuredVersions: string[];
  dataKeys: { kekVersion: string; count: number; configured: boolean }[];
  destroyedDataKeys: number;
  pendingRewrap: number;
  rotation: KeyRotationJob | undefined;
}

/** What GET /v1/keys shows: versions, counts and progress, never key material. */
export async function keyStatus(db: Database, keyring: MasterKeyring): Promise<KeyStatus> {
  // A destroyed key keeps the version it was wrapped under: it counts as destroyed (null) here.
  const version = sql<
    string | null
  >`case when ${subjectDataKeys.destroyedAt} is null then ${subjectDataKeys.kekVersion} end`;
  const perVersion = await db
    .select({ kekVersion: version, count: count() })
    .from(subjectDataKeys)
    .groupBy(version)
    .orderBy(asc(version));
  const [latest] = await db
    .select()
    .from(keyRotationJobs)
    .orderBy(sql`${keyRotationJobs.createdAt} desc`)
    .limit(1);
  const live = perVersion.filter((row) => row.kekVersion !== null);
  return {
    activeVersion: keyring.activeVersion,
    configuredVersions: keyring.versions,
    dataKeys: live.map((row) => ({
      kekVersion: row.kekVersion!,
      count: row.count,
      configured: keyring.has(row.kekVersion!),
    })),
    destroyedDataKeys: perVersion.find((row) => row.kekVersion === null)?.count ?? 0,
    pendingRewrap: live
      .filter((row) => row.kekVersion !== keyring.activeVersion)
      .reduce((sum, row) => sum + row.count, 0),
    rotation: latest,
  };
}
