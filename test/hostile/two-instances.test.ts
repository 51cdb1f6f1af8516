import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint-token';
import { resolveAppConfig } from '../../src/config/app-config';
import { findFreePort } from '../../src/db/embedded-postgres';
import { reportHostile } from '../support/hostile-summary';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

function returnBody(n: number) {
  return {
    merchantId: 'twin-shop',
    orderRef: `ORD-TWIN-${n}`,
    deliveredAt: new Date(Date.now() - 3 * 86_400_000).toISOString(),
    customer: {
      name: `Twin Customer ${n}`,
      email: `twin.${n % 7}@example.org`,
      address: { line1: `${n} avenue des Jumeaux`, postalCode: '33000', city: 'Bordeaux', country: 'FR' },
    },
    items: [{ sku: 'SKU-T', quantity: 1, unitPriceCents: 2500, reason: 'defective' }],
    method: 'post_office',
    refund: { method: 'original_payment' },
  };
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(200)) {
    if (await check().catch(() => false)) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('two service instances on one database', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('run scheduled retention once, elect one audit sequencer, keep positions contiguous and serve the same feed', async () => {
    const database = await createTestDatabase();
    // Retention every two seconds so both instances race for the same scheduled times.
    const env = testEnvironment({
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      RETENTION_CRON: '*/2 * * * * *',
    });
    const config = resolveAppConfig(env);
    const ports = [await findFreePort(), await findFreePort()];
    for (const port of ports) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
        env: { ...process.env, ...env, PORT: String(port) },
        stdio: 'ignore',
      });
      children.push(child);
    }
    for (const port of ports) {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200,
        `instance ${port}`,
      );
    }

    const merchant = await mintToken(config.jwt, { role: 'merchant' });
    for (let n = 0; n < 30; n++) {
      const response = await fetch(`http://127.0.0.1:${ports[n % 2]}/v1/returns`, {
        method: 'POST',
        headers: { authorization: `Bearer ${merchant}`, 'content-type': 'application/json' },
        body: JSON.stringify(returnBody(n)),
      });
      expect(response.status).toBe(201);
    }

    // Several scheduled ticks pass; each scheduled time has one run, done by one instance.
    await waitUntil(async () => {
      const [row] =
        await database.sql`select count(*)::int as runs from retention_runs where trigger = 'schedule'`;
      return (row?.runs ?? 0) >= 3;
    }, 'three scheduled retention runs');
    const runs = await database.sql`
      select scheduled_for, count(*)::int as copies from retention_runs where trigger = 'schedule' group by scheduled_for`;
    expect(runs.every((run) => run.copies === 1)).toBe(true);

    // Every audit event gets exactly one position, contiguous from 0, whichever instance wrote it.
    await waitUntil(async () => {
      const [row] = await database.sql`
          select (select count(*) from audit_events)::int as events, (select count(*) from audit_log_entries)::int as positioned`;
      return row?.events === row?.positioned;
    }, 'the sequencer to position every event');
    const [positions] = await database.sql`
      select count(*)::int as count, min(position)::int as first, max(position)::int as last,
             count(distinct audit_event_id)::int as events from audit_log_entries`;
    expect(positions?.first).toBe(0);
    expect(positions?.last).toBe((positions?.count ?? 0) - 1);
    expect(positions?.events).toBe(positions?.count);

    // Both instances serve the same pseudonymized feed.
    const backend = await mintToken(config.jwt, { role: 'backend', clientId: 'analytics' });
    const pages = await Promise.all(
      ports.map(async (port) => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/pseudonymized/returns?limit=1000`, {
          headers: { authorization: `Bearer ${backend}` },
        });
        expect(response.status).toBe(200);
        return (await response.json()) as { items: unknown[] };
      }),
    );
    expect(pages[0]?.items.length).toBe(30);
    expect(pages[1]).toEqual(pages[0]);
    reportHostile(
      `two instances: ${runs.length} scheduled retention slots run once each, ${positions?.count} audit positions contiguous, identical feeds`,
    );
  }, 300_000);
});
