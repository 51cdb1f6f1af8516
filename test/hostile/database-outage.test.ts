import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { applyMigrations } from '../../src/db/migrations';
import { reportHostile } from '../support/hostile-summary';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

function returnBody(n: number) {
  return {
    merchantId: 'outage-shop',
    orderRef: `ORD-OUTAGE-${n}`,
    deliveredAt: new Date(Date.now() - 2 * 86_400_000).toISOString(),
    customer: {
      name: `Outage Customer ${n}`,
      email: `outage.customer.${n}@example.org`,
      address: { line1: `${n} rue de la Panne`, postalCode: '75011', city: 'Paris', country: 'FR' },
    },
    items: [{ sku: 'SKU-1', quantity: 1, unitPriceCents: 1999, reason: 'too_small' }],
    method: 'post_office',
    refund: { method: 'original_payment' },
  };
}

describe('PostgreSQL stopped under load', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'returnvault-outage-'));
  let cluster: EmbeddedPostgresHandle | undefined;
  let database: DatabaseHandle;
  let t: TestApp;
  // After-hooks run in reverse order: the app (registered later) closes before the pool and cluster.
  afterAll(async () => {
    await database.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeAll(async () => {
    cluster = await startEmbeddedPostgres(dir);
    database = openDatabase(cluster.url, { maxConnections: 5 });
    await applyMigrations(database);
    t = await createTestApp({ database, env: { LOG_LEVEL: 'error' } });
  });

  it('answers 503 problem+json during the outage, recovers by itself, and loses no acknowledged return', async () => {
    const token = await t.token('merchant');

    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    let running = true;
    const worker = async () => {
      while (running) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/v1/returns',
          headers: bearer(token),
          payload: returnBody(sent++),
        });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode === 201) acknowledged.push(response.json().id);
        else {
          expect(response.statusCode, response.body).toBe(503);
          expect(String(response.headers['content-type'])).toContain('application/problem+json');
          expect(response.json().code).toBe('database_unavailable');
          await sleep(20);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);

    const waitFor = async (condition: () => boolean) => {
      for (let waited = 0; !condition() && waited < 30_000; waited += 50) await sleep(50);
    };
    await waitFor(() => acknowledged.length >= 3);
    const beforeOutage = acknowledged.length;
    await cluster?.stop();
    await waitFor(() => (statuses.get(503) ?? 0) >= 5);
    const duringOutage = statuses.get(503) ?? 0;
    cluster = await startEmbeddedPostgres(dir);
    const recoveredFrom = acknowledged.length;
    for (let waited = 0; acknowledged.length === recoveredFrom && waited < 20_000; waited += 100)
      await sleep(100);
    await sleep(500);
    running = false;
    await Promise.all(workers);

    expect(beforeOutage).toBeGreaterThan(0);
    expect(duringOutage).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(recoveredFrom);
    const stored = await database.sql`select id from returns where id = any(${acknowledged}::uuid[])`;
    expect(stored.length).toBe(acknowledged.length);
    reportHostile(
      `database outage: ${sent} requests, ${acknowledged.length} acknowledged and all found after recovery, ${duringOutage} answered 503`,
    );
  });
});
