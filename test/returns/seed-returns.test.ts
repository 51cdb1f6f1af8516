import { beforeAll, describe, expect, it } from 'vitest';
import { seedReturns } from '../../src/returns/seed-returns';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('seed --returns', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('writes returns, subjects and data keys in batches, readable through the API', async () => {
    const progress: number[] = [];
    const result = await seedReturns(
      {
        db: t.database.db,
        masterKeys: t.config.masterKeys,
        blindIndexKeys: t.config.blindIndexKeys,
        rules: t.policies.returnRules,
      },
      { count: 250, batchSize: 100, onProgress: (done) => progress.push(done) },
    );
    expect(result.returns).toBe(250);
    // One report per batch of 100, 100 and 50; workers finish them in any order, so the sums vary.
    expect(progress).toHaveLength(3);
    expect(progress.every((done, i) => i === 0 || done > progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBe(250);
    const [counts] = await t.database.sql`
      select (select count(*)::int from returns) as returns, (select count(*)::int from subjects) as subjects,
        (select count(distinct status)::int from returns) as statuses,
        (select count(*)::int from return_events) as events`;
    expect(counts).toMatchObject({ returns: 250, subjects: 250 });
    expect(counts!.statuses).toBeGreaterThan(2);
    expect(counts!.events).toBeGreaterThan(100);

    const [sample] = await t.database.sql`select id from returns where status = 'received' limit 1`;
    const read = await t.app.inject({
      url: `/v1/returns/${sample!.id}`,
      headers: { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' },
    });
    expect(read.statusCode).toBe(200);
    const body = read.json();
    expect(body.customer.email).toMatch(/@example\.com$/);
    expect(body.events.map((event: { type: string }) => event.type)).toContain('received');
    expect(body.refund.dueAt).not.toBeNull();
    // The seeded subject is found through the blind index like any other.
    const lookup = await t.app.inject({
      url: `/v1/returns?email=${encodeURIComponent(body.customer.email)}`,
      headers: { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' },
    });
    expect(lookup.json().items.map((item: { id: string }) => item.id)).toEqual([sample!.id]);
  });

  it('fails with the worker error, and stops, when a batch cannot be built', async () => {
    const before = await t.database.sql`select count(*)::int as count from returns`;
    const seeding = seedReturns(
      {
        db: t.database.db,
        masterKeys: t.config.masterKeys,
        blindIndexKeys: t.config.blindIndexKeys,
        // Rules without a withdrawal period: computing the legal clocks throws inside the worker.
        rules: {
          ...t.policies.returnRules,
          withdrawal: undefined,
        } as unknown as typeof t.policies.returnRules,
      },
      { count: 300, batchSize: 100 },
    );
    await expect(seeding).rejects.toThrow(/seed worker/);
    const after = await t.database.sql`select count(*)::int as count from returns`;
    expect(after[0]!.count).toBe(before[0]!.count);
  });
});
