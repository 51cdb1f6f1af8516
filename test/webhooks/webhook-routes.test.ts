import { beforeAll, describe, expect, it } from 'vitest';
import { fanOutEvents } from '../../src/webhooks/deliveries';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { enqueueReturns, subscriptions } from './webhook-fixtures';

describe('GET /v1/webhooks/deliveries and POST /v1/webhooks/deliveries/:id/replay', () => {
  let t: TestApp;
  let dead: string;
  let pending: string;
  let otherMerchantDead: string;

  beforeAll(async () => {
    t = await createTestApp();
    const subs = subscriptions([
      { id: 'shop-a', url: 'https://a.example/h', merchantId: 'm-a', events: ['return.created'] },
      { id: 'shop-b', url: 'https://b.example/h', merchantId: 'm-b', events: ['return.created'] },
    ]);
    await enqueueReturns(t.database, 'm-a', 2);
    await enqueueReturns(t.database, 'm-b', 1);
    await fanOutEvents(t.database.sql, subs);
    const rows = await t.database.sql<{ id: string; subscription_id: string }[]>`
      select id, subscription_id from webhook_deliveries order by created_at, id`;
    const a = rows.filter((r) => r.subscription_id === 'shop-a');
    dead = a[0]!.id;
    pending = a[1]!.id;
    otherMerchantDead = rows.find((r) => r.subscription_id === 'shop-b')!.id;
    await t.database.sql`
      update webhook_deliveries set status = 'dead', attempts = 3, dead_at = now()
      where id in ${t.database.sql([dead, otherMerchantDead])}`;
    await t.database.sql`
      insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class)
      values (${dead}, 1, now(), 12, 'failed', 503, 'http_error'), (${dead}, 2, now(), 5000, 'failed', null, 'timeout')`;
  });

  it('lists deliveries with every attempt, filtered by status', async () => {
    const token = await t.token('admin');
    const all = await t.app.inject({ url: '/v1/webhooks/deliveries', headers: bearer(token) });
    expect(all.statusCode).toBe(200);
    expect(all.json().items).toHaveLength(3);

    const deadOnes = await t.app.inject({
      url: '/v1/webhooks/deliveries?status=dead&limit=10',
      headers: bearer(token),
    });
    const items = deadOnes.json().items as { id: string; status: string; attemptLog: unknown[] }[];
    expect(items.map((i) => i.id).sort()).toEqual([dead, otherMerchantDead].sort());
    expect(items.find((i) => i.id === dead)!.attemptLog).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'failed',
        statusCode: 503,
        errorClass: 'http_error',
        durationMs: 12,
      }),
      expect.objectContaining({ attempt: 2, outcome: 'failed', statusCode: null, errorClass: 'timeout' }),
    ]);
  });

  it('shows a merchant-limited caller only its own deliveries', async () => {
    const token = await t.token('admin', { merchantId: 'm-b' });
    const response = await t.app.inject({ url: '/v1/webhooks/deliveries', headers: bearer(token) });
    expect(response.json().items.map((i: { id: string }) => i.id)).toEqual([otherMerchantDead]);
    const replay = await t.app.inject({
      method: 'POST',
      url: `/v1/webhooks/deliveries/${dead}/replay`,
      headers: bearer(token),
    });
    expect(replay.statusCode).toBe(404);
  });

  it('replays a dead letter, and only a dead letter', async () => {
    const token = await t.token('admin');
    const replay = await t.app.inject({
      method: 'POST',
      url: `/v1/webhooks/deliveries/${dead}/replay`,
      headers: bearer(token),
    });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ id: dead, status: 'pending', attempts: 0, replays: 1 });
    const [row] = await t.database
      .sql`select status, replays, dead_at from webhook_deliveries where id = ${dead}`;
    expect(row).toMatchObject({ status: 'pending', replays: 1, dead_at: null });
    const audit = await t.database.sql`
      select outcome, target_id, details from audit_events where action = 'webhook.replay'`;
    expect(audit).toEqual([
      expect.objectContaining({
        outcome: 'success',
        target_id: dead,
        details: expect.objectContaining({ subscriptionId: 'shop-a' }),
      }),
    ]);

    const again = await t.app.inject({
      method: 'POST',
      url: `/v1/webhooks/deliveries/${pending}/replay`,
      headers: bearer(token),
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('conflict');
    const missing = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks/deliveries/00000000-0000-4000-8000-000000000000/replay',
      headers: bearer(token),
    });
    expect(missing.statusCode).toBe(404);
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks/deliveries/nope/replay',
      headers: bearer(token),
    });
    expect(malformed.statusCode).toBe(400);
  });

  it('refuses callers without webhooks:manage (403) or without a token (401), and bad filters (400)', async () => {
    for (const role of ['merchant', 'dpo', 'auditor', 'backend'] as const) {
      const token = await t.token(role);
      expect(
        (await t.app.inject({ url: '/v1/webhooks/deliveries', headers: bearer(token) })).statusCode,
      ).toBe(403);
      const replay = await t.app.inject({
        method: 'POST',
        url: `/v1/webhooks/deliveries/${otherMerchantDead}/replay`,
        headers: bearer(token),
      });
      expect(replay.statusCode).toBe(403);
    }
    expect((await t.app.inject({ url: '/v1/webhooks/deliveries' })).statusCode).toBe(401);
    const admin = await t.token('admin');
    for (const query of ['status=lost', 'limit=0', 'limit=201', 'limit=abc']) {
      const response = await t.app.inject({
        url: `/v1/webhooks/deliveries?${query}`,
        headers: bearer(admin),
      });
      expect(response.statusCode).toBe(400);
    }
    const [row] = await t.database.sql`select status from webhook_deliveries where id = ${otherMerchantDead}`;
    expect(row!.status).toBe('dead');
  });
});
