import { and, asc, count, eq, isNotNull, ne, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { type AuditContext, type Executor, recordAuditEvent } from '../audit/record-audit-event';
import { DecryptionError } from '../crypto/decryption-errors';
import type { MasterKeyring } from '../crypto/master-keyring';
import { subjectDataKeys } from '../crypto/subject-data-keys.schema';
import type { Database, DatabaseHandle } from '../db/database';
import { type KeyRotationJob, keyRotationJobs } from './key-rotation-jobs.schema';

// One runner across every instance: a session advisory lock on a connection of its own.
const rotationLockKey = 7_311_002;
export const defaultBatchSize = 500;

const liveKeysOffVersion = (version: string) =>
  and(isNotNull(subjectDataKeys.wrappedKey), ne(subjectDataKeys.kekVersion, version));

async function runningJob(executor: Executor, lock = false): Promise<KeyRotationJob | undefined> {
  const query = executor.select().from(keyRotationJobs).where(eq(keyRotationJobs.status, 'running'));
  const [job] = lock ? await query.for('update') : await query;
  return job;
}

/**
 * Starts a re-wrap of every data key to the active master key version, or returns the job already
 * running for it. A job running for an older target is superseded: the new one covers its keys too.
 */
export async function startRotation(
  db: Database,
  keyring: MasterKeyring,
  audit: AuditContext & { actor?: string },
): Promise<KeyRotationJob> {
  const targetVersion = keyring.activeVersion;
  return db.transaction(async (tx) => {
    const running = await runningJob(tx, true);
    if (running?.targetVersion === targetVersion) return running;
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
    // A concurrent start won the one running slot: its job is the answer.
    if (!job) return (await runningJob(tx))!;
    await recordAuditEvent(tx, audit, {
      actor: audit.actor,
      action: 'key.rotation.start',
      outcome: 'success',
      targetType: 'key_rotation_job',
      targetId: job.id,
      details: { targetVersion, dataKeys: job.total, supersededJob: running?.id ?? null },
    });
    return job;
  });
}

/** Stops the job for good with a reason (a code and a version, never key material). */
async function failJob(tx: Executor, job: KeyRotationJob, error: string): Promise<KeyRotationJob> {
  const [failed] = await tx
    .update(keyRotationJobs)
    .set({ status: 'failed', error, updatedAt: sql`now()`, finishedAt: sql`now()` })
    .where(eq(keyRotationJobs.id, job.id))
    .returning();
  await recordAuditEvent(
    tx,
    {},
    {
      actor: 'key-rotation',
      action: 'key.rotation.fail',
      outcome: 'failure',
      targetType: 'key_rotation_job',
      targetId: job.id,
      details: { targetVersion: job.targetVersion, error },
    },
  );
  return failed!;
}

/**
 * One batch, one transaction: re-wraps up to `batchSize` live keys not yet on the target version and
 * advances the job's counters. Keys already on the target are never selected again, so a run killed
 * at any point resumes without re-wrapping anything twice.
 */
async function rewrapBatch(
  tx: Executor,
  keyring: MasterKeyring,
  batchSize: number,
): Promise<KeyRotationJob | undefined> {
  const job = await runningJob(tx, true);
  if (!job) return undefined;
  if (!keyring.has(job.targetVersion))
    return failJob(tx, job, `target_version_unavailable:${job.targetVersion}`);
  const keys = await tx
    .select({
      subjectId: subjectDataKeys.subjectId,
      dataClass: subjectDataKeys.dataClass,
      wrappedKey: subjectDataKeys.wrappedKey,
      kekVersion: subjectDataKeys.kekVersion,
    })
    .from(subjectDataKeys)
    .where(liveKeysOffVersion(job.targetVersion))
    .orderBy(asc(subjectDataKeys.subjectId), asc(subjectDataKeys.dataClass))
    .limit(batchSize)
    .for('update');

  if (keys.length === 0) {
    const [completed] = await tx
      .update(keyRotationJobs)
      .set({ status: 'completed', updatedAt: sql`now()`, finishedAt: sql`now()` })
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
        details: { targetVersion: job.targetVersion, rewrapped: job.rewrapped, batches: job.batches },
      },
    );
    return completed;
  }

  const fromVersions: Record<string, number> = {};
  const rewrapped: { subjectId: string; dataClass: string; wrappedHex: string }[] = [];
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
      return failJob(tx, job, `${error.reason}:${key.kekVersion}:${key.subjectId}:${key.dataClass}`);
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
      details: { targetVersion: job.targetVersion, rewrapped: rewrapped.length, fromVersions },
    },
  );
  return progressed;
}

export interface RotationRunOptions {
  batchSize?: number;
  /** Stop (as if killed) after this many batches; the job stays running and resumes later. */
  maxBatches?: number;
  signal?: AbortSignal;
  onProgress?: (job: KeyRotationJob) => void;
}

export type RotationRunResult =
  | { outcome: 'busy' | 'idle' }
  | { outcome: 'completed' | 'failed' | 'superseded' | 'stopped'; job: KeyRotationJob };

/**
 * Runs the running job to its end, batch after batch, if no other instance is running it. Answers
 * `busy` when another runner holds the lock and `idle` when no job is running.
 */
export async function runRotationJob(
  database: DatabaseHandle,
  keyring: MasterKeyring,
  options: RotationRunOptions = {},
): Promise<RotationRunResult> {
  // Most calls (every server start) find nothing to do: answer that without opening a connection.
  if (!(await runningJob(database.db))) return { outcome: 'idle' };
  const lock = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await lock`select pg_try_advisory_lock(${rotationLockKey}) as locked`;
    if (!row?.locked) return { outcome: 'busy' };
    for (let batches = 0; ; batches += 1) {
      if (options.signal?.aborted || (options.maxBatches !== undefined && batches >= options.maxBatches)) {
        const job = await runningJob(database.db);
        return job ? { outcome: 'stopped', job } : { outcome: 'idle' };
      }
      const job = await database.db.transaction((tx) =>
        rewrapBatch(tx, keyring, options.batchSize ?? defaultBatchSize),
      );
      if (!job) return { outcome: 'idle' };
      options.onProgress?.(job);
      if (job.status !== 'running') return { outcome: job.status, job };
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
