import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../src/audit/audit-events.schema';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { startRotation } from '../../src/keys/key-rotation';
import { type KeyRotationJob, keyRotationJobs } from '../../src/keys/key-rotation-jobs.schema';
import { startBackgroundJobs } from '../../src/server/background-jobs';
import { testTable, versionedKey } from '../crypto/crypto-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { writeSubjects } from './rotation-fixtures';

const v1 = versionedKey('v1');
const v2 = versionedKey('v2');
const masterKeys = [v1, v2].map((key) => `${key.version}:${key.key.toString('base64')}`).join(',');

describe('keys endpoints', () => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    // The test fields table exists before the app starts, as the encryption-map self-check requires.
    const database = await createTestDatabase();
    await database.sql.unsafe(
      `create table ${testTable} (id uuid primary key, name_enc bytea, phone_enc bytea, iban_enc bytea)`,
    );
    t = await createTestApp({
      database,
      env: { MASTER_KEYS: masterKeys },
    });
    admin = await t.token('admin');
    // Data written before v2 was added to MASTER_KEYS.
    await writeSubjects(t.database.db, new MasterKeyring([v1]), 6);
  });

  /** Key material in any form the body could leak it: master keys and wrapped data keys. */
  async function secretsIn(body: string): Promise<string[]> {
    const wrapped = await t.database
      .sql`select wrapped_key from subject_data_keys where wrapped_key is not null`;
    const secrets = [v1.key, v2.key, ...wrapped.map((row) => row.wrapped_key as Buffer)].flatMap((bytes) => [
      bytes.toString('base64'),
      bytes.toString('base64url'),
      bytes.toString('hex'),
    ]);
    return secrets.filter((secret) => body.includes(secret));
  }

  it('shows versions and data keys per version, never key material', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(admin) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      activeVersion: 'v2',
      configuredVersions: ['v1', 'v2'],
      dataKeys: [{ kekVersion: 'v1', count: 12, configured: true }],
      destroyedDataKeys: 0,
      pendingRewrap: 12,
      rotation: null,
    });
    expect(await secretsIn(response.body)).toEqual([]);
  });

  it('starts the re-wrap with 202 and finishes it in the background', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: bearer(admin) });
    expect(response.statusCode).toBe(202);
    const job = response.json();
    expect(job).toMatchObject({
      status: 'running',
      targetVersion: 'v2',
      total: 12,
      requestedBy: expect.any(String),
    });
    expect(await secretsIn(response.body)).toEqual([]);

    let status = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(admin) })).json();
    for (let tries = 0; status.rotation.status === 'running' && tries < 100; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(admin) })).json();
    }
    expect(status).toMatchObject({
      dataKeys: [{ kekVersion: 'v2', count: 12, configured: true }],
      pendingRewrap: 0,
      rotation: {
        id: job.id,
        status: 'completed',
        rewrapped: 12,
        unreadable: 0,
        finishedAt: expect.any(String),
      },
    });

    const actions = await t.database.db
      .select({ action: auditEvents.action, actor: auditEvents.actor, requestId: auditEvents.requestId })
      .from(auditEvents)
      .where(eq(auditEvents.targetId, job.id));
    expect(actions.map((event) => event.action)).toEqual([
      'key.rotation.start',
      'key.rewrap.batch',
      'key.rotation.complete',
    ]);
    expect(actions[0]!.requestId).toBe(response.headers['x-request-id']);
  });

  it('requires keys:manage (403) and a token (401)', async () => {
    const dpo = await t.token('dpo');
    for (const request of [
      { method: 'GET' as const, url: '/v1/keys' },
      { method: 'POST' as const, url: '/v1/keys/rotate' },
    ]) {
      const forbidden = await t.app.inject({ ...request, headers: bearer(dpo) });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.headers['content-type']).toContain('application/problem+json');
      expect((await t.app.inject(request)).statusCode).toBe(401);
    }
    const [jobs] = await t.database.sql`select count(*)::int as n from key_rotation_jobs`;
    expect(jobs!.n).toBe(1);
  });

  it('documents both routes in the OpenAPI document', async () => {
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(openapi.paths['/v1/keys/rotate'].post.responses).toHaveProperty('202');
    expect(openapi.paths['/v1/keys'].get.responses).toHaveProperty('200');
  });

  it('finishes, once the background jobs start, a rotation that a killed instance left running', async () => {
    await writeSubjects(t.database.db, new MasterKeyring([v1]), 3);
    const keyring = new MasterKeyring([v1, v2]);
    const left = await startRotation(t.database.db, keyring, { actor: 'test' });
    expect(left).toMatchObject({ status: 'running', total: 6 });
    // Another instance starts on the same database, as runServer starts it.
    const restarted = await createTestApp({ database: t.database, env: { MASTER_KEYS: masterKeys } });
    const jobs = await startBackgroundJobs(
      {
        config: restarted.config,
        policies: restarted.policies,
        database: t.database,
        signer: restarted.app.signer,
        keyring: restarted.app.keyring,
        log: restarted.app.log,
        rotationWorker: restarted.app.rotationWorker,
      },
      { pending: 0, onLateStartFailure: () => {} },
    );
    let job: KeyRotationJob | undefined = left;
    for (let tries = 0; job?.status === 'running' && tries < 100; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      [job] = await t.database.db.select().from(keyRotationJobs).where(eq(keyRotationJobs.id, left.id));
    }
    expect(job).toMatchObject({ status: 'completed', rewrapped: 6 });
    await jobs.stop();
    await restarted.app.close();
  });

  it('answers 409 and leaves the job running when a rotation to a version this instance lacks runs', async () => {
    // Started by an instance already configured with v3, during a rolling deploy.
    const newer = await startRotation(t.database.db, new MasterKeyring([v1, v2, versionedKey('v3')]), {
      actor: 'newer-instance',
    });
    const response = await t.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: bearer(admin) });
    expect(response.statusCode).toBe(409);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ code: 'conflict', rotationId: newer.id, targetVersion: 'v3' });
    expect(response.json().detail).toMatch(/rotation to v3 is running/);
    expect(await secretsIn(response.body)).toEqual([]);
    const [job] = await t.database.db.select().from(keyRotationJobs).where(eq(keyRotationJobs.id, newer.id));
    expect(job).toMatchObject({ status: 'running', error: null });
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(openapi.paths['/v1/keys/rotate'].post.responses).toHaveProperty('409');
  });

  it('supersedes, when the body says so, a rotation to a version no instance holds any more', async () => {
    // Started by an instance configured with v3, rolled back since (or the one the previous test left).
    const stuck = await startRotation(t.database.db, new MasterKeyring([v1, v2, versionedKey('v3')]), {
      actor: 'rolled-back-instance',
    });
    const rotate = (payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: bearer(admin), payload });
    expect((await rotate({})).statusCode).toBe(409);
    expect((await rotate({ supersede: 'yes' })).statusCode).toBe(400);
    // While a runner re-wraps (its lock held), some instance does hold v3: the override is refused.
    const runner = postgres(t.database.url, { max: 1, onnotice: () => {} });
    await runner`select pg_advisory_lock(7311002)`;
    const whileRunning = await rotate({ supersede: true });
    await runner.end();
    expect(whileRunning.statusCode).toBe(409);
    expect(whileRunning.json().detail).toMatch(/being run by an instance that holds that version/);
    const response = await rotate({ supersede: true });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ status: 'running', targetVersion: 'v2' });
    const [superseded] = await t.database.db
      .select()
      .from(keyRotationJobs)
      .where(eq(keyRotationJobs.id, stuck.id));
    expect(superseded).toMatchObject({ status: 'superseded', finishedAt: expect.any(Date) });
  });
});
