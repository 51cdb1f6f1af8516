import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { afterAll, describe, expect, it } from 'vitest';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import type { DatabaseHandle } from '../../src/db/database';
import { findFreePort } from '../../src/db/embedded-postgres';
import { applyMigrations, migrationsFolder } from '../../src/db/migrations';
import { versionedKey } from '../crypto/crypto-fixtures';
import { writeSubjects } from '../keys/rotation-fixtures';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

/** Applies the migrations that come before `tag` only, as an earlier release left the database. */
async function applyMigrationsBefore(database: DatabaseHandle, tag: string) {
  const folder = mkdtempSync(path.join(tmpdir(), 'rv-earlier-migrations-'));
  mkdirSync(path.join(folder, 'meta'));
  const journal = JSON.parse(readFileSync(path.join(migrationsFolder, 'meta/_journal.json'), 'utf8'));
  journal.entries = journal.entries.filter((entry: { tag: string }) => entry.tag < tag);
  writeFileSync(path.join(folder, 'meta/_journal.json'), JSON.stringify(journal));
  for (const { tag: earlier } of journal.entries as { tag: string }[]) {
    cpSync(path.join(migrationsFolder, `${earlier}.sql`), path.join(folder, `${earlier}.sql`));
  }
  await migrate(database.db, { migrationsFolder: folder });
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(200)) {
    if (await check().catch(() => false)) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Applies the migrations under a running server, which must then exit 1 having logged `line`. */
async function expectExitOnceMigrated(
  database: DatabaseHandle,
  server: ChildProcess,
  logged: (line: string) => boolean,
  line: string,
) {
  const exited = once(server, 'exit');
  await applyMigrations(database);
  const [exitCode] = await exited;
  expect(exitCode).toBe(1);
  expect(logged(line)).toBe(true);
}

describe('a server started before its migrations', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  /** `returnvault serve` on `databaseUrl`, its log lines collected; resolves once it listens. */
  async function serve(databaseUrl: string, env: Record<string, string> = {}) {
    const port = await findFreePort();
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      env: { ...process.env, ...testEnvironment({ DATABASE_URL: databaseUrl, PORT: String(port), ...env }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(server);
    const logLines: string[] = [];
    server.stdout!.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n')));
    const base = `http://127.0.0.1:${port}`;
    const ready = async () => (await fetch(`${base}/ready`)).status;
    await waitUntil(async () => (await ready()) === 503, 'the server to listen');
    return { server, base, ready, logged: (text: string) => logLines.some((line) => line.includes(text)) };
  }

  it('publishes its signing key and starts the audit sequencer, retention and webhooks once "returnvault migrate" has run', {
    timeout: 120_000,
  }, async () => {
    const database = await createTestDatabase({ migrated: false });
    // The advisory locks the audit sequencer (7311004) and the webhook dispatcher (7311009) lead by.
    const leaderLocks = async () =>
      (
        await database.sql<{ key: number }[]>`
          select objid::int as key from pg_locks
          where locktype = 'advisory' and granted and objid in (7311004, 7311009)
            and database = (select oid from pg_database where datname = current_database())
          order by objid`
      ).map((row) => row.key);
    const { server, base, ready, logged } = await serve(database.url, { RETENTION_CRON: '* * * * * *' });
    expect(logged('migration(s) pending')).toBe(true);
    expect(await leaderLocks()).toEqual([]);

    await applyMigrations(database);
    expect(await ready()).toBe(200);
    await waitUntil(async () => {
      const [row] = await database.sql`
        select count(*)::int as runs from retention_runs where trigger = 'schedule' and status = 'completed'`;
      return (row?.runs ?? 0) > 0;
    }, 'a scheduled retention run');
    await waitUntil(
      async () => (await leaderLocks()).join() === '7311004,7311009',
      'the sequencer and dispatcher to lead',
    );
    expect(logged('migrations applied: checking the encryption map, publishing the signing key')).toBe(true);
    // The key the sequencer signs checkpoints with is published for good, so they verify after
    // SIGNING_KEY changes (the JWKS then lists it from the table).
    const { keys } = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    const published = await database.sql`select kid from published_signing_keys`;
    expect(published.map((row) => row.kid)).toEqual([keys[0]!.kid]);

    // The close stops the jobs it started and exits cleanly.
    server.kill('SIGTERM');
    const [exitCode] = await once(server, 'exit');
    expect(exitCode).toBe(0);
    expect(await leaderLocks()).toEqual([]);
  });

  it('stops with the reason when the jobs cannot start once migrated, as it would have at boot', {
    timeout: 120_000,
  }, async () => {
    const database = await createTestDatabase({ migrated: false });
    // A subscription this configuration could never deliver to: startWebhooks refuses it.
    const policiesDir = mkdtempSync(path.join(tmpdir(), 'rv-late-start-policies-'));
    cpSync(path.resolve('policies'), policiesDir, { recursive: true });
    writeFileSync(
      path.join(policiesDir, 'webhooks.yaml'),
      'subscriptions:\n  - id: remote\n    url: http://192.0.2.10/hooks\n    events: [return.created]\n',
    );
    const { server, logged } = await serve(database.url, { POLICIES_DIR: policiesDir });
    await expectExitOnceMigrated(
      database,
      server,
      logged,
      'background jobs could not start: policy error: ' +
        `${path.join(policiesDir, 'webhooks.yaml')}: subscriptions.0.url: plain http is allowed only to loopback targets`,
    );
  });

  it('resumes a key rotation left running once the migrations are applied', {
    timeout: 120_000,
  }, async () => {
    // A database an earlier release migrated, before key_rotation_jobs.unreadable (0033), and a
    // rotation to v2 that release left running.
    const database = await createTestDatabase({ migrated: false });
    await applyMigrationsBefore(database, '0033_key-rotation-unreadable');
    const [v1, v2] = [versionedKey('v1'), versionedKey('v2')];
    await writeSubjects(database.db, new MasterKeyring([v1]), 2);
    await database.sql`
      insert into key_rotation_jobs (target_version, total, requested_by) values ('v2', 4, 'earlier-release')`;
    const masterKeys = [v1, v2].map((key) => `${key.version}:${key.key.toString('base64')}`).join(',');
    const { server, logged } = await serve(database.url, { MASTER_KEYS: masterKeys });
    expect(logged('migration(s) pending')).toBe(true);

    await applyMigrations(database);
    await waitUntil(async () => {
      const [job] = await database.sql`select status, rewrapped from key_rotation_jobs`;
      return job?.status === 'completed' && job.rewrapped === 4;
    }, 'the rotation to finish');
    const versions = await database.sql`
      select kek_version, count(*)::int as n from subject_data_keys group by kek_version`;
    expect(versions).toEqual([{ kek_version: 'v2', n: 4 }]);
    server.kill('SIGTERM');
    const [exitCode] = await once(server, 'exit');
    expect(exitCode).toBe(0);
  });

  it('stops, starting no job, when the migrated schema fails the full encryption-map check', {
    timeout: 120_000,
  }, async () => {
    const database = await createTestDatabase({ migrated: false });
    await applyMigrationsBefore(database, '0033_key-rotation-unreadable');
    // A declared encrypted column the schema lacks: only the check on a complete schema sees it.
    await database.sql`alter table subject_requests drop column changes_enc`;
    const { server, logged } = await serve(database.url);
    await expectExitOnceMigrated(
      database,
      server,
      logged,
      'background jobs could not start: encryption map column(s) absent from the schema or not bytea: subject_requests.changes_enc',
    );
    expect(logged('audit sequencer: this instance leads')).toBe(false);
  });
});
