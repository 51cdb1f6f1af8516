import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, testEnvironment } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { closeReturn, createReturn, justAfter, placeHold } from './retention-fixtures';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `returnvault retention run ...` as a real process; `onStderr` may kill it. */
function cli(
  args: string[],
  env: Record<string, string | undefined>,
  onStderr?: (text: string, child: ChildProcess) => void,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    // Its own process group: npx starts tsx which starts node, and a kill must reach all of them.
    const child = spawn('npx', ['tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, ...testEnvironment(env) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** What retention leaves of each return, by order reference (ids differ between databases). */
async function finalState(t: TestApp) {
  const rows = await t.database.sql`
    select order_ref, data_state, archived_at is not null as archived, erased_at is not null as erased,
           customer_name_enc is not null as has_contact, iban_enc is not null as has_iban
    from returns order by order_ref`;
  const keys = await t.database.sql`
    select data_class, count(*) filter (where destroyed_at is null)::int as live,
           count(*) filter (where destroyed_at is not null)::int as destroyed
    from subject_data_keys group by data_class order by data_class`;
  return { rows, keys };
}

async function ruleTotals(t: TestApp, runId: string) {
  return t.database.sql`
    select rule_id, status, done, skipped_held, failed from retention_run_rules
    where run_id = ${runId} order by position`;
}

/**
 * The same returns, holds and dates in any database: closed ten years and two days ago, so a run as of
 * now has every rule due (a run that changes data may not look ahead).
 */
async function seedDataset(t: TestApp) {
  const closedAt = new Date();
  closedAt.setUTCFullYear(closedAt.getUTCFullYear() - 10);
  closedAt.setUTCDate(closedAt.getUTCDate() - 2);
  const createdAt = new Date(closedAt.getTime() - 86_400_000);
  for (let i = 0; i < 22; i += 1) {
    const fixture = await createReturn(t, {
      orderRef: `ORD-${String(i).padStart(3, '0')}`,
      bankTransfer: i % 3 !== 0,
      at: createdAt,
    });
    await closeReturn(t, fixture.id, i % 4 === 0 ? 'rejected' : 'refunded', closedAt);
  }
  await createReturn(t, { orderRef: 'ORD-OPEN', at: createdAt });
  const held = await createReturn(t, { orderRef: 'ORD-HELD', at: createdAt });
  await closeReturn(t, held.id, 'refunded', closedAt);
  await placeHold(t, { returnId: held.id });
}

describe('returnvault retention run', () => {
  let killed: TestApp;
  let clean: TestApp;
  const asOf = justAfter('P10Y').toISOString().slice(0, 10);

  beforeAll(async () => {
    killed = await createTestApp({ database: await createTestDatabase() });
    clean = await createTestApp({ database: await createTestDatabase() });
    await seedDataset(killed);
    await seedDataset(clean);
  });

  it('killed with SIGKILL after its first batch, then run again: same final state and totals as an uninterrupted run', async () => {
    const args = ['retention', 'run', '--batch-size', '3'];
    const uninterrupted = await cli(args, { DATABASE_URL: clean.database.url });
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);

    let sentKill = false;
    const first = await cli(args, { DATABASE_URL: killed.database.url }, (stderr, child) => {
      if (!sentKill && stderr.includes('progress ')) {
        sentKill = true;
        process.kill(-child.pid!, 'SIGKILL');
      }
    });
    expect(first.signal).toBe('SIGKILL');
    const [interrupted] = await killed.database.sql`select id, status from retention_runs`;
    expect(interrupted!.status).toBe('running');
    const partial = await ruleTotals(killed, interrupted!.id);
    const donePartially = partial.reduce((sum, rule) => sum + rule.done + rule.skipped_held, 0);
    expect(donePartially).toBeGreaterThan(0);

    const second = await cli(args, { DATABASE_URL: killed.database.url });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/resumed \(attempt 2\)/);

    const [cleanRun] = await clean.database.sql`select id from retention_runs`;
    const runs = await killed.database.sql`select id, status, attempts from retention_runs`;
    expect(runs).toEqual([{ id: interrupted!.id, status: 'completed', attempts: 2 }]);
    expect(await ruleTotals(killed, interrupted!.id)).toEqual(await ruleTotals(clean, cleanRun!.id));
    expect(await finalState(killed)).toEqual(await finalState(clean));
    // The printed totals line is the same too.
    const totalsLine = (output: string) => output.split('\n').find((line) => line.startsWith('totals'));
    expect(totalsLine(second.stdout)).toBe(totalsLine(uninterrupted.stdout));

    // Nothing was done twice: each return appears once per rule in the audit trail.
    const events = await killed.database.sql`
      select target_id, details from audit_events where action like 'retention.%' and outcome = 'success'`;
    for (const ruleId of new Set(events.map((event) => event.target_id as string))) {
      const ids = events
        .filter((event) => event.target_id === ruleId)
        .flatMap((event) => event.details.ids as string[]);
      expect(new Set(ids).size, ruleId).toBe(ids.length);
    }
  });

  it('a dry run prints what a run would do and exits 0', async () => {
    const result = await cli(['retention', 'run', '--dry-run', '--as-of', asOf], {
      DATABASE_URL: clean.database.url,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/dry run \(nothing changed\)/);
    // The open return, created today, goes dormant in a year: ten years on, archived and erased, its
    // IBAN with them (its dispute window counted from its dormancy).
    expect(result.stdout).toMatch(/^payment-erase\tcompleted\t1\t1\t0$/m);
    expect(result.stdout).toMatch(/^totals\t\t3\t4\t0$/m);
  });

  it('refuses a run that changes data as of a future date, with one line', async () => {
    const result = await cli(['retention', 'run', '--as-of', asOf], { DATABASE_URL: clean.database.url });
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'returnvault: --as-of: must not be in the future for a run that changes data (a dry run may look ahead)',
    ]);
  });

  it('a bad retention.yaml stops the start naming the file and the path', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rv-bad-retention-'));
    cpSync(path.resolve('policies'), dir, { recursive: true });
    const file = path.join(dir, 'retention.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('duration: P13M', 'duration: 13 months'));
    for (const command of [['retention', 'run'], ['serve']]) {
      const result = await cli(command, { DATABASE_URL: clean.database.url, POLICIES_DIR: dir });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `policy error: ${file}: rules.4.duration: expected an ISO 8601 duration such as P3M, P5Y or P1Y6M (whole numbers)`,
      );
    }
  });
});
