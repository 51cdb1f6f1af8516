import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint-token';
import { resolveAppConfig } from '../../src/config/app-config';
import { encryptedColumns } from '../../src/crypto/encryption-map';
import { loadSubjectKeyset } from '../../src/crypto/field-cipher';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { findFreePort } from '../../src/db/embedded-postgres';
import '../../src/db/schema-modules';
import { returnRequest } from '../returns/return-fixtures';
import { reportHostile } from '../support/hostile-summary';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const run = promisify(execFile);

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 90_000) {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(200)) {
    if (await check().catch(() => false)) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

function startServer(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
}

/**
 * Every encrypted value still stored must decrypt with the real cipher: a subject either keeps its
 * keys or its ciphertexts are gone. A half-erased subject (key destroyed, ciphertext left) fails here.
 */
async function checkEveryCiphertextDecrypts(database: TestDatabase, keyring: MasterKeyring) {
  const db = drizzle(database.sql);
  const byTable = new Map<string, ReturnType<typeof encryptedColumns>>();
  for (const column of encryptedColumns())
    byTable.set(column.table, [...(byTable.get(column.table) ?? []), column]);
  let checked = 0;
  for (const [table, columns] of byTable) {
    const [hasSubject] = await database.sql`
      select 1 from information_schema.columns where table_name = ${table} and column_name = 'subject_id'`;
    if (!hasSubject) continue;
    const rows = await database.sql.unsafe(
      `select id::text as id, subject_id::text as subject_id, ${columns.map((c) => `"${c.column}"`).join(', ')} from "${table}"`,
    );
    for (const row of rows) {
      if (!row.subject_id) continue;
      const keys = await loadSubjectKeyset(db, keyring, row.subject_id);
      for (const column of columns) {
        const ciphertext = row[column.column] as Buffer | null;
        if (ciphertext === null) continue;
        keys.decrypt(column.dataClass, { table, column: column.column, rowId: row.id }, ciphertext);
        checked += 1;
      }
    }
  }
  return checked;
}

describe('killed with SIGKILL mid-work, then restarted', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('leaves no half-erased subject, finishes the key rotation, and the audit log still verifies', async () => {
    const database = await createTestDatabase();
    const v1 = `v1:${randomBytes(32).toString('base64')}`;
    const v2 = `v2:${randomBytes(32).toString('base64')}`;
    const env = testEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: 'warn', MASTER_KEYS: v1 });
    const port = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    const config = resolveAppConfig(env);
    const headers = async (role: 'support' | 'dpo' | 'admin' | 'auditor') => ({
      authorization: `Bearer ${await mintToken(config.jwt, { role })}`,
      'content-type': 'application/json',
    });
    const ready = async () => (await fetch(`${base}/ready`)).status === 200;

    // Phase 1, master key v1: returns for 24 customers.
    let server = startServer({ ...env, PORT: String(port) });
    children.push(server);
    await waitUntil(ready, 'the first server');
    const tags = Array.from({ length: 24 }, (_, n) => `crash${n}`);
    for (const tag of tags) {
      const response = await fetch(`${base}/v1/returns`, {
        method: 'POST',
        headers: await headers('support'),
        body: JSON.stringify(returnRequest({}, tag)),
      });
      expect(response.status).toBe(201);
    }
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));

    // Phase 2, master keys v1,v2: a rotation and erasures in flight when the process is killed.
    const rotatingEnv = { ...env, MASTER_KEYS: `${v1},${v2}`, PORT: String(port) };
    server = startServer(rotatingEnv);
    children.push(server);
    await waitUntil(ready, 'the second server');
    expect(
      (await fetch(`${base}/v1/keys/rotate`, { method: 'POST', headers: await headers('admin'), body: '{}' }))
        .status,
    ).toBe(202);
    const dpo = await headers('dpo');
    const erasures = tags.slice(0, 12).map(async (tag) => {
      const created = await fetch(`${base}/v1/subject-requests`, {
        method: 'POST',
        headers: dpo,
        body: JSON.stringify({ type: 'erasure', email: returnRequest({}, tag).customer.email }),
      }).then((r) => r.json() as Promise<{ id: string }>);
      await fetch(`${base}/v1/subject-requests/${created.id}/verify`, {
        method: 'POST',
        headers: dpo,
        body: '{"method":"document"}',
      });
      return fetch(`${base}/v1/subject-requests/${created.id}/execute`, {
        method: 'POST',
        headers: dpo,
        body: '{}',
      }).catch(() => undefined);
    });
    await sleep(400);
    server.kill('SIGKILL');
    await Promise.allSettled(erasures);

    // Phase 3: restart; the rotation resumes and the sequencer catches up.
    server = startServer(rotatingEnv);
    children.push(server);
    await waitUntil(ready, 'the restarted server');
    await waitUntil(async () => {
      const [row] = await database.sql`
        select count(*)::int as left from subject_data_keys where wrapped_key is not null and kek_version <> 'v2'`;
      return row?.left === 0;
    }, 'the rotation to finish');
    await waitUntil(async () => {
      const [row] = await database.sql`
        select (select count(*) from audit_events)::int as events, (select count(*) from audit_log_entries)::int as positioned`;
      return row?.events === row?.positioned;
    }, 'the sequencer to position every event');

    const checked = await checkEveryCiphertextDecrypts(
      database,
      new MasterKeyring(config.masterKeys.concat(resolveAppConfig(rotatingEnv).masterKeys.slice(1))),
    );
    expect(checked).toBeGreaterThan(0);

    const exportResponse = await fetch(`${base}/v1/audit/export`, { headers: await headers('auditor') });
    expect(exportResponse.status).toBe(200);
    const bundleFile = path.join(tmpdir(), `audit-bundle-${randomBytes(4).toString('hex')}.json`);
    writeFileSync(bundleFile, await exportResponse.text());
    const verified = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify', bundleFile],
      {
        env: { ...process.env, ...rotatingEnv },
      },
    );
    expect(verified.stdout + verified.stderr).toMatch(/ok|verified/i);
    reportHostile(
      `SIGKILL during rotation and erasures: restart finished the rotation, ${checked} ciphertexts decrypt, audit bundle verifies`,
    );
  }, 420_000);
});
