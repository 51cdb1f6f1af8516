import { spawn } from 'node:child_process';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { beforeEach, describe, expect, it } from 'vitest';
import { auditEvents } from '../../src/audit/audit-events.schema';
import { KeyVersionUnavailableError } from '../../src/crypto/decryption-errors';
import { destroySubjectKey, loadSubjectKeyset } from '../../src/crypto/field-cipher';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { runRotationJob, startRotation } from '../../src/keys/key-rotation';
import { keyRotationJobs } from '../../src/keys/key-rotation-jobs.schema';
import { versionedKey } from '../crypto/crypto-fixtures';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { poolLosingACommitReply } from './commit-reply-cutter';
import { readAll, type StoredValue, writeSubjects } from './rotation-fixtures';

const v1 = versionedKey('v1');
const v2 = versionedKey('v2');
const onlyV1 = new MasterKeyring([v1]);
const v1v2 = new MasterKeyring([v1, v2]);
const masterKeysOf = (...keys: (typeof v1)[]) =>
  keys.map((key) => `${key.version}:${key.key.toString('base64')}`).join(',');

let database: TestDatabase;
const tsx = 'node_modules/.bin/tsx';

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(tsx, ['src/cli/main.ts', ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function keysPerVersion(): Promise<Record<string, number>> {
  const rows = await database.sql`
    select case when destroyed_at is null then kek_version else 'destroyed' end as v, count(*)::int as n
    from subject_data_keys group by 1`;
  return Object.fromEntries(rows.map((row) => [row.v as string, row.n as number]));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The backend of the runner's batch once it waits for a row lock that a test transaction holds. */
function batchWaitingForLock(): Promise<number> {
  return until('the batch to wait for a lock', async () => {
    const [row] = await database.sql`
      select pid from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`;
    return row?.pid as number | undefined;
  });
}

async function rewrappedInAudit(jobId: string): Promise<number> {
  const events = await database.db.select().from(auditEvents).where(eq(auditEvents.targetId, jobId));
  return events
    .filter((event) => event.action === 'key.rewrap.batch')
    .reduce((sum, event) => sum + (event.details.rewrapped as number), 0);
}

describe('key rotation', () => {
  beforeEach(async () => {
    database = await createTestDatabase();
  });

  it('re-wraps every data key to v2 while reads and writes go on with mixed versions', async () => {
    const before = await writeSubjects(database.db, onlyV1, 15);
    expect(await keysPerVersion()).toEqual({ v1: 30 });
    // New config v1,v2: old keys still read, new subjects get v2 keys, before any rotation.
    expect(await readAll(database.db, v1v2, before)).toEqual(before.map((value) => value.plaintext));
    const mixed = await writeSubjects(database.db, v1v2, 2);
    expect(await keysPerVersion()).toEqual({ v1: 30, v2: 4 });

    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    expect(job).toMatchObject({ status: 'running', targetVersion: 'v2', total: 30, rewrapped: 0 });
    // Requests go on beside the runner: reads of old data and new intakes, on the same pool.
    let rotating = true;
    const rotation = runRotationJob(database, v1v2, { batchSize: 7 }).finally(() => {
      rotating = false;
    });
    const writtenDuring: StoredValue[] = [];
    let readsDuring = 0;
    while (rotating) {
      expect(await readAll(database.db, v1v2, before.slice(0, 6))).toEqual(
        before.slice(0, 6).map((value) => value.plaintext),
      );
      readsDuring += 1;
      writtenDuring.push(...(await writeSubjects(database.db, v1v2, 1)));
    }
    expect(await rotation).toMatchObject({ outcome: 'completed' });
    expect(readsDuring).toBeGreaterThan(0);

    const finished = await database.db.select().from(keyRotationJobs).where(eq(keyRotationJobs.id, job.id));
    expect(finished[0]).toMatchObject({ status: 'completed', rewrapped: 30, batches: 5 });
    expect(await keysPerVersion()).toEqual({ v2: 34 + writtenDuring.length });
    expect(await rewrappedInAudit(job.id)).toBe(30);

    // v1 can now be retired: everything reads with v2 alone, and nothing reads with v1 alone.
    const onlyV2 = new MasterKeyring([v2]);
    const all = [...before, ...mixed, ...writtenDuring];
    expect(await readAll(database.db, onlyV2, all)).toEqual(all.map((value) => value.plaintext));
    await expect(readAll(database.db, onlyV1, before)).rejects.toThrow(KeyVersionUnavailableError);
  });

  it('reads a half-rotated keyset (some keys on v1, some on v2)', async () => {
    const values = await writeSubjects(database.db, onlyV1, 10);
    await startRotation(database.db, v1v2, { actor: 'test' });
    await runRotationJob(database, v1v2, { batchSize: 4, maxBatches: 2 });
    expect(await keysPerVersion()).toEqual({ v1: 12, v2: 8 });
    expect(await readAll(database.db, v1v2, values)).toEqual(values.map((value) => value.plaintext));

    // Erasures during the rotation: one key still on v1, one already on v2; both stay destroyed.
    const [onV1] =
      await database.sql`select subject_id from subject_data_keys where kek_version = 'v1' limit 1`;
    const [onV2] =
      await database.sql`select subject_id from subject_data_keys where kek_version = 'v2' limit 1`;
    await destroySubjectKey(database.db, onV1!.subject_id, 'contact', {});
    await destroySubjectKey(database.db, onV2!.subject_id, 'contact', {});
    expect(await runRotationJob(database, v1v2, { batchSize: 4 })).toMatchObject({ outcome: 'completed' });
    const versions = await keysPerVersion();
    expect(versions.destroyed).toBe(onV1!.subject_id === onV2!.subject_id ? 1 : 2);
    expect(versions.v2).toBe(20 - versions.destroyed!);
  });

  it('resumes a run stopped half-way and finishes without re-wrapping anything twice', async () => {
    const values = await writeSubjects(database.db, onlyV1, 25);
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    const first = await runRotationJob(database, v1v2, { batchSize: 10, maxBatches: 2 });
    expect(first).toMatchObject({
      outcome: 'stopped',
      job: { status: 'running', rewrapped: 20, batches: 2 },
    });
    expect(await keysPerVersion()).toEqual({ v1: 30, v2: 20 });

    // Restart: starting again answers the same running job, and the runner finishes it.
    expect((await startRotation(database.db, v1v2, { actor: 'test' })).id).toBe(job.id);
    const second = await runRotationJob(database, v1v2, { batchSize: 10 });
    expect(second).toMatchObject({ outcome: 'completed', job: { rewrapped: 50, batches: 5, total: 50 } });
    expect(await keysPerVersion()).toEqual({ v2: 50 });
    expect(await rewrappedInAudit(job.id)).toBe(50);
    expect(await readAll(database.db, v1v2, values)).toEqual(values.map((value) => value.plaintext));
  });

  it('resumes after the CLI process is SIGKILLed mid-run: the checkpoint always matches the keys', async () => {
    await writeSubjects(database.db, onlyV1, 60);
    const env = testEnvironment({
      DATABASE_URL: database.url,
      MASTER_KEYS: masterKeysOf(v1, v2),
    });
    const child = spawn(tsx, ['src/cli/main.ts', 'keys', 'rotate', '--batch-size', '1'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    let progress = 0;
    while (progress < 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const [row] = await database.sql`select coalesce(max(rewrapped), 0)::int as n from key_rotation_jobs`;
      progress = row!.n as number;
    }
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    expect(progress).toBeGreaterThanOrEqual(5);

    const [job] = await database.db.select().from(keyRotationJobs);
    const versions = await keysPerVersion();
    expect(job!.status).toBe('running');
    expect(job!.rewrapped).toBeLessThan(120);
    // Every committed batch moved keys and counter together: no key re-wrapped without its checkpoint.
    expect(versions.v2).toBe(job!.rewrapped);
    expect(await rewrappedInAudit(job!.id)).toBe(job!.rewrapped);

    // The same command again resumes the job and finishes it.
    const resumed = await runCli(['keys', 'rotate', '--batch-size', '25'], env);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe('every data key is wrapped by v2\n');
    expect(resumed.stderr).toContain(`progress 120/120 data keys on v2`);
    const [finished] = await database.db.select().from(keyRotationJobs);
    expect(finished).toMatchObject({ id: job!.id, status: 'completed', rewrapped: 120, total: 120 });
    expect(await keysPerVersion()).toEqual({ v2: 120 });
    expect(await rewrappedInAudit(job!.id)).toBe(120);
  });

  it('lets one runner at a time work: another instance holding the lock makes the run answer busy', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    await startRotation(database.db, v1v2, { actor: 'test' });
    const other = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await other`select pg_advisory_lock(7311002)`;
      expect(await runRotationJob(database, v1v2)).toEqual({ outcome: 'busy' });
      expect(await keysPerVersion()).toEqual({ v1: 4 });
    } finally {
      await other.end();
    }
    expect(await runRotationJob(database, v1v2)).toMatchObject({ outcome: 'completed' });
  });

  it('starts one job for concurrent requests, and supersedes it when a newer version becomes active', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    const jobs = await Promise.all(
      Array.from({ length: 5 }, () => startRotation(database.db, v1v2, { actor: 'test' })),
    );
    expect(new Set(jobs.map((job) => job.id)).size).toBe(1);
    const v3 = new MasterKeyring([v1, v2, versionedKey('v3')]);
    const newer = await startRotation(database.db, v3, { actor: 'test' });
    expect(newer).toMatchObject({ targetVersion: 'v3', total: 4 });
    const statuses = await database.db.select({ status: keyRotationJobs.status }).from(keyRotationJobs);
    expect(statuses.map((row) => row.status).sort()).toEqual(['running', 'superseded']);
    expect(await runRotationJob(database, v3)).toMatchObject({ outcome: 'completed', job: { rewrapped: 4 } });
    expect(await keysPerVersion()).toEqual({ v3: 4 });
  });

  it('stops at data keys wrapped by a master key version it lacks, leaving the job running for an instance that holds it', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    // An instance that already dropped v1: the CLI stops, names the version, and exits non-zero.
    const cli = await runCli(
      ['keys', 'rotate'],
      testEnvironment({ DATABASE_URL: database.url, MASTER_KEYS: masterKeysOf(v2) }),
    );
    expect(cli.code).toBe(1);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim().split('\n').at(-1)).toBe(
      'returnvault: data keys are still wrapped by master key v1, which MASTER_KEYS here does not hold: the rotation to v2 stays running at 0/4; run it where MASTER_KEYS holds v1, and never remove v1 while data keys use it',
    );
    const [job] = await database.db.select().from(keyRotationJobs);
    expect(job).toMatchObject({ targetVersion: 'v2', status: 'running', rewrapped: 0, unreadable: 0 });
    expect(await runRotationJob(database, new MasterKeyring([v2]))).toMatchObject({
      outcome: 'source_unavailable',
      kekVersion: 'v1',
      job: { id: job!.id, status: 'running', rewrapped: 0, unreadable: 0 },
    });
    expect(await keysPerVersion()).toEqual({ v1: 4 });

    // An instance holding v1 finishes it, with nothing counted unreadable.
    expect(await runRotationJob(database, v1v2)).toMatchObject({
      outcome: 'completed',
      job: { id: job!.id, rewrapped: 4, unreadable: 0 },
    });
    expect(await keysPerVersion()).toEqual({ v2: 4 });
  });

  it('skips a data key that does not unwrap, counts it once per pass, and re-wraps every other key', async () => {
    const values = await writeSubjects(database.db, onlyV1, 5);
    // The first subject's two keys, first in re-wrap order, altered: they fill the whole first batch.
    const [altered] =
      await database.sql`select subject_id from subject_data_keys order by subject_id limit 1`;
    await database.sql`
      update subject_data_keys set wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)
      where subject_id = ${altered!.subject_id}`;
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    expect(await runRotationJob(database, v1v2, { batchSize: 2, maxBatches: 3 })).toMatchObject({
      outcome: 'stopped',
      job: { rewrapped: 4, unreadable: 2, batches: 3 },
    });
    // A new pass (a restart) meets the altered keys again: they are counted once, not twice.
    expect(await runRotationJob(database, v1v2, { batchSize: 2 })).toMatchObject({
      outcome: 'completed',
      job: { id: job.id, status: 'completed', total: 10, rewrapped: 8, unreadable: 2, error: null },
    });
    expect(await keysPerVersion()).toEqual({ v1: 2, v2: 8 });

    const events = await database.db.select().from(auditEvents).where(eq(auditEvents.targetId, job.id));
    const listed = events.flatMap((event) =>
      event.action === 'key.rewrap.batch'
        ? (event.details.unreadable as Record<string, string>[]).map(
            (key) => `${key.subjectId}:${key.dataClass}:${key.kekVersion}:${key.reason}`,
          )
        : [],
    );
    // Once per pass, with what someone repairing them needs, never key material.
    expect(listed.sort()).toEqual(
      ['contact', 'contact', 'payment', 'payment'].map(
        (dataClass) => `${altered!.subject_id}:${dataClass}:v1:aad_mismatch`,
      ),
    );
    expect(events.find((event) => event.action === 'key.rotation.complete')!.details).toMatchObject({
      rewrapped: 8,
      unreadable: 2,
    });
    // Every other value reads with v2 alone.
    const intact = values.filter((value) => value.subjectId !== altered!.subject_id);
    expect(await readAll(database.db, new MasterKeyring([v2]), intact)).toEqual(
      intact.map((value) => value.plaintext),
    );
  });

  it('neither supersedes nor runs a rotation to a version the instance does not hold (a newer one)', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    const v3 = new MasterKeyring([v1, v2, versionedKey('v3')]);
    const newer = await startRotation(database.db, v3, { actor: 'newer-instance' });
    // An instance still configured with v1,v2 during a rolling deploy.
    await expect(startRotation(database.db, v1v2, { actor: 'older-instance' })).rejects.toMatchObject({
      code: 'conflict',
      status: 409,
      extensions: { rotationId: newer.id, targetVersion: 'v3' },
    });
    // Nor does it compete for the runner lock, which an instance holding v3 (here this one) needs.
    const newerRunner = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await newerRunner`select pg_advisory_lock(7311002)`;
      expect(await runRotationJob(database, v1v2)).toMatchObject({
        outcome: 'target_unavailable',
        job: { id: newer.id, status: 'running' },
      });
    } finally {
      await newerRunner.end({ timeout: 1 });
    }
    const jobs = await database.db.select().from(keyRotationJobs);
    expect(jobs).toMatchObject([{ id: newer.id, status: 'running', rewrapped: 0, error: null }]);
    expect(await keysPerVersion()).toEqual({ v1: 4 });
    expect(await runRotationJob(database, v3)).toMatchObject({
      outcome: 'completed',
      job: { id: newer.id, rewrapped: 4 },
    });
  });

  it('leaves the job alone when a newer rotation replaces it while a batch waits for the job', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    const other = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await other
        .begin(async (newerInstance) => {
          await newerInstance`select id from key_rotation_jobs where id = ${job.id} for update`;
          const run = runRotationJob(database, v1v2);
          run.catch(() => {});
          await batchWaitingForLock();
          // What startRotation does on an instance configured with v3: supersede, then start its own.
          await newerInstance`update key_rotation_jobs set status = 'superseded', finished_at = now() where id = ${job.id}`;
          const [newer] = await newerInstance`
          insert into key_rotation_jobs (target_version, total, requested_by)
          values ('v3', 4, 'newer-instance') returning id`;
          return { run, newerId: newer!.id as string };
        })
        .then(async ({ run, newerId }) => {
          expect(await run).toMatchObject({
            outcome: 'target_unavailable',
            job: { id: newerId, status: 'running', rewrapped: 0 },
          });
        });
    } finally {
      await other.end({ timeout: 1 });
    }
    expect(await keysPerVersion()).toEqual({ v1: 4 });
  });

  it('retries a batch that a deadlock rolled back, and finishes', async () => {
    await writeSubjects(database.db, onlyV1, 3);
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    const other = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await other
        .begin(async (tx) => {
          // This side waits long, so the runner's batch is the one PostgreSQL picks to roll back.
          await tx`set local deadlock_timeout = '60s'`;
          await tx`select 1 from subject_data_keys for update`;
          const run = runRotationJob(database, v1v2, { transientRetry: { attempts: 3, firstDelayMs: 10 } });
          run.catch(() => {});
          await batchWaitingForLock();
          // The batch holds the job row and waits for the keys; this waits for the job row: a deadlock.
          await tx`select 1 from key_rotation_jobs where id = ${job.id} for update`;
          return { run };
        })
        .then(async ({ run }) => {
          expect(await run).toMatchObject({ outcome: 'completed', job: { rewrapped: 6 } });
        });
    } finally {
      await other.end({ timeout: 1 });
    }
    expect(await keysPerVersion()).toEqual({ v2: 6 });
  });

  it('retries after a lost connection, and leaves the job to the instance that took the runner lock meanwhile', async () => {
    await writeSubjects(database.db, onlyV1, 3);
    await startRotation(database.db, v1v2, { actor: 'test' });
    const other = postgres(database.url, { max: 2, onnotice: () => {} });
    try {
      const blocker = await other.reserve();
      await blocker`begin`;
      await blocker`select 1 from subject_data_keys for update`;
      const run = runRotationJob(database, v1v2, { transientRetry: { attempts: 3, firstDelayMs: 100 } });
      run.catch(() => {});
      const batchPid = await batchWaitingForLock();
      const [runnerLock] = await database.sql`
        select pid from pg_locks where locktype = 'advisory' and objid = 7311002 and granted`;
      // A failover drops the runner's connections, its lock's too; another instance takes the lock.
      await database.sql`select pg_terminate_backend(${runnerLock!.pid as number})`;
      const thief = await other.reserve();
      await thief`select pg_advisory_lock(7311002)`;
      await database.sql`select pg_terminate_backend(${batchPid})`;
      await blocker`rollback`;
      expect(await run).toEqual({ outcome: 'busy' });
      expect(await keysPerVersion()).toEqual({ v1: 6 });
      await thief`select pg_advisory_unlock(7311002)`;
      thief.release();
      blocker.release();
    } finally {
      await other.end({ timeout: 1 });
    }
    expect(await runRotationJob(database, v1v2)).toMatchObject({
      outcome: 'completed',
      job: { rewrapped: 6 },
    });
  });

  it('reports how another instance ended the job the CLI was running: failed exits non-zero', async () => {
    await writeSubjects(database.db, onlyV1, 40);
    const env = testEnvironment({
      DATABASE_URL: database.url,
      MASTER_KEYS: masterKeysOf(v1, v2),
    });
    const cli = runCli(['keys', 'rotate', '--batch-size', '1'], env);
    await until('the CLI to re-wrap a first batch', async () => {
      const [row] = await database.sql`select rewrapped from key_rotation_jobs where rewrapped > 0`;
      return row;
    });
    // An instance of an older release, which still fails jobs, fails it between two batches.
    await database.sql`
      update key_rotation_jobs set status = 'failed', error = 'aad_mismatch:v1', finished_at = now()
      where status = 'running'`;
    const result = await cli;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      'returnvault: key rotation to v2 failed: aad_mismatch:v1',
    );
  });

  it('lets an operator supersede a rotation to a version no instance holds any more, and audits it', async () => {
    await writeSubjects(database.db, onlyV1, 2);
    // Started by an instance configured with v3, rolled back since: no instance will ever run it.
    const stuck = await startRotation(database.db, new MasterKeyring([v1, v2, versionedKey('v3')]), {
      actor: 'rolled-back-instance',
    });
    await expect(startRotation(database.db, v1v2, { actor: 'test' })).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('If no instance holds v3 any more, start again with supersede.'),
    });
    const env = testEnvironment({ DATABASE_URL: database.url, MASTER_KEYS: masterKeysOf(v1, v2) });
    const cli = await runCli(['keys', 'rotate', '--supersede'], env);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe('every data key is wrapped by v2\n');
    const jobs = await database.db.select().from(keyRotationJobs).orderBy(keyRotationJobs.createdAt);
    expect(jobs).toMatchObject([
      { id: stuck.id, targetVersion: 'v3', status: 'superseded', rewrapped: 0 },
      { targetVersion: 'v2', status: 'completed', rewrapped: 4, requestedBy: 'cli' },
    ]);
    expect(await keysPerVersion()).toEqual({ v2: 4 });
    const [start] = await database.db.select().from(auditEvents).where(eq(auditEvents.targetId, jobs[1]!.id));
    expect(start).toMatchObject({
      actor: 'cli',
      action: 'key.rotation.start',
      details: {
        targetVersion: 'v2',
        supersededJob: stuck.id,
        supersededTargetVersion: 'v3',
        forcedSupersede: true,
      },
    });
  });

  it('completes only once no key is left behind: keys written behind the pass start a new one', async () => {
    await writeSubjects(database.db, onlyV1, 4);
    const [first, last] = await database.sql`
      (select subject_id from subject_data_keys order by subject_id limit 1)
      union all (select subject_id from subject_data_keys order by subject_id desc limit 1)`;
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    const other = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const run = await other.begin(async (tx) => {
        // Holds the pass at the last subject's keys, once it has re-wrapped the first subject's.
        await tx`select 1 from subject_data_keys where subject_id = ${last!.subject_id} for update`;
        const run = runRotationJob(database, v1v2, { batchSize: 2 });
        run.catch(() => {});
        await batchWaitingForLock();
        expect(await keysPerVersion()).toEqual({ v1: 2, v2: 6 });
        // Meanwhile an instance still on v1 alone gives the first subject, erased, a new contact key.
        await destroySubjectKey(database.db, first!.subject_id, 'contact', {});
        await loadSubjectKeyset(database.db, onlyV1, first!.subject_id, { create: ['contact'] });
        return { run };
      });
      expect(await run.run).toMatchObject({
        outcome: 'completed',
        job: { id: job.id, rewrapped: 9, unreadable: 0 },
      });
    } finally {
      await other.end({ timeout: 1 });
    }
    expect(await keysPerVersion()).toEqual({ v2: 8 });
  });

  it('counts an unreadable key once when its batch is tried again after a commit whose reply was lost', async () => {
    await writeSubjects(database.db, onlyV1, 3);
    // The last subject's two keys, last in re-wrap order, altered: they fill the last batch.
    const [altered] =
      await database.sql`select subject_id from subject_data_keys order by subject_id desc limit 1`;
    await database.sql`
      update subject_data_keys set wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)
      where subject_id = ${altered!.subject_id}`;
    const job = await startRotation(database.db, v1v2, { actor: 'test' });
    const relayed = await poolLosingACommitReply(database.url);
    try {
      const result = await runRotationJob(relayed.database, v1v2, {
        batchSize: 2,
        transientRetry: { attempts: 3, firstDelayMs: 10 },
        // After the second batch: the third, the altered keys', commits, and its runner never hears so.
        onProgress: (progress) => progress.batches === 2 && relayed.cutNextCommitReply(),
      });
      expect(result).toMatchObject({
        outcome: 'completed',
        job: { id: job.id, status: 'completed', rewrapped: 4, unreadable: 2 },
      });
    } finally {
      await relayed.close();
    }
    const events = await database.db.select().from(auditEvents).where(eq(auditEvents.targetId, job.id));
    // The lost batch and its retry both committed: the keys were met twice, and are counted once.
    expect(events.filter((event) => event.action === 'key.rewrap.batch')).toHaveLength(4);
    expect(events.find((event) => event.action === 'key.rotation.complete')!.details).toMatchObject({
      unreadable: 2,
    });
  });
});
