import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database';
import { findFreePort } from '../../src/db/embedded-postgres';
import { applyMigrations } from '../../src/db/migrations';
import { testEnvironment } from '../support/test-app';

/** A database with nothing applied, as on a first deployment before `returnvault migrate`. */
async function createUnmigratedDatabase() {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `returnvault_unmigrated_${randomBytes(6).toString('hex')}`;
  const admin = openDatabase(adminUrl, { maxConnections: 1 });
  await admin.sql.unsafe(`create database ${name}`);
  await admin.close();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = openDatabase(url.toString(), { maxConnections: 2 });
  afterAll(async () => {
    await handle.close();
    const cleanup = openDatabase(adminUrl, { maxConnections: 1 });
    await cleanup.sql.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await cleanup.close();
  });
  return handle;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(200)) {
    if (await check().catch(() => false)) return;
  }
  throw new Error(`timed out waiting for ${what}`);
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
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status;
    await waitUntil(async () => (await ready()) === 503, 'the server to listen');
    return { server, ready, logged: (text: string) => logLines.some((line) => line.includes(text)) };
  }

  it('starts the audit sequencer, retention and webhooks once "returnvault migrate" has run', {
    timeout: 120_000,
  }, async () => {
    const database = await createUnmigratedDatabase();
    // The advisory locks the audit sequencer (7311004) and the webhook dispatcher (7311009) lead by.
    const leaderLocks = async () =>
      (
        await database.sql<{ key: number }[]>`
          select objid::int as key from pg_locks
          where locktype = 'advisory' and granted and objid in (7311004, 7311009)
            and database = (select oid from pg_database where datname = current_database())
          order by objid`
      ).map((row) => row.key);
    const { server, ready, logged } = await serve(database.url, { RETENTION_CRON: '* * * * * *' });
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
    expect(logged('migrations applied: starting the audit sequencer')).toBe(true);

    // The close stops the jobs it started and exits cleanly.
    server.kill('SIGTERM');
    const [exitCode] = await once(server, 'exit');
    expect(exitCode).toBe(0);
    expect(await leaderLocks()).toEqual([]);
  });

  it('stops with the reason when the jobs cannot start once migrated, as it would have at boot', {
    timeout: 120_000,
  }, async () => {
    const database = await createUnmigratedDatabase();
    // A subscription this configuration could never deliver to: startWebhooks refuses it.
    const policiesDir = mkdtempSync(path.join(tmpdir(), 'rv-late-start-policies-'));
    cpSync(path.resolve('policies'), policiesDir, { recursive: true });
    writeFileSync(
      path.join(policiesDir, 'webhooks.yaml'),
      'subscriptions:\n  - id: remote\n    url: http://192.0.2.10/hooks\n    events: [return.created]\n',
    );
    const { server, logged } = await serve(database.url, { POLICIES_DIR: policiesDir });
    const exited = once(server, 'exit');

    await applyMigrations(database);
    const [exitCode] = await exited;
    expect(exitCode).toBe(1);
    expect(
      logged(
        'background jobs could not start: policy error: ' +
          `${path.join(policiesDir, 'webhooks.yaml')}: subscriptions.0.url: plain http is allowed only to loopback targets`,
      ),
    ).toBe(true);
  });
});
