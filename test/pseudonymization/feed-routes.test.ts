import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicies } from '../../src/policies/load-policies';
import { encodeCursor } from '../../src/pseudonymization/feed-cursor';
import { createPseudonymKeys } from '../../src/pseudonymization/pseudonyms';
import { createTestApp, type TestApp } from '../support/test-app';
import {
  type Customer,
  createReturn,
  type FeedResponse,
  fetchPage,
  randomCustomer,
  syncFeed,
  untilFeedCaughtUp,
} from './feed-fixtures';

describe('GET /v1/pseudonymized/returns', () => {
  let t: TestApp;
  let analytics: string;
  let warehouse: string;
  const customers: Customer[] = [];

  beforeAll(async () => {
    const policies = loadPolicies(path.resolve('policies'));
    // A tight rate limit for one extra recipient, to see the 429 without hammering the real ones.
    policies.recipients.push({
      ...policies.recipients[0]!,
      id: 'throttled',
      rateLimit: { max: 2, windowSeconds: 60 },
    });
    t = await createTestApp({ policies });
    analytics = await t.token('backend', { clientId: 'analytics' });
    warehouse = await t.token('backend', { clientId: 'warehouse' });
    for (let i = 0; i < 3; i++) customers.push(randomCustomer());
    await createReturn(t, customers[0]!);
    await createReturn(t, customers[0]!);
    await createReturn(t, customers[1]!, { merchantId: 'merchant-b' });
    await createReturn(t, customers[2]!);
  });

  it('gives the analytics recipient its allowlisted fields, weeks and postal areas', async () => {
    const { items } = await syncFeed(t, analytics);
    expect(items).toHaveLength(4);
    const item = items[0]!;
    expect(Object.keys(item).sort()).toEqual(
      [
        'id',
        'erased',
        'subject',
        'merchantId',
        'status',
        'method',
        'refundMethod',
        'postalArea',
        'country',
        'deliveredAt',
        'notifiedAt',
        'createdAt',
        'updatedAt',
        'items',
        'amounts',
      ].sort(),
    );
    expect(item).toMatchObject({
      erased: false,
      status: 'created',
      method: 'post_office',
      refundMethod: 'bank_transfer',
      postalArea: '75',
      country: 'FR',
      amounts: { totalCents: 2 * 1999 + 850, refundedCents: null },
      items: [
        { sku: 'SKU-TSHIRT-M', quantity: 2, unitPriceCents: 1999, reason: 'too_small' },
        { sku: 'SKU-MUG', quantity: 1, unitPriceCents: 850, reason: 'damaged' },
      ],
    });
    expect(item.deliveredAt).toMatch(/^\d{4}-W\d{2}$/);
    expect(item.createdAt).toMatch(/^\d{4}-W\d{2}$/);
    expect(item.id).toMatch(/^ps1_[A-Za-z0-9_-]{24}$/);
    expect(item.subject).toMatch(/^ps1_[A-Za-z0-9_-]{24}$/);
  });

  it('gives the warehouse only its fields, by country and day, with no subject', async () => {
    const { items } = await syncFeed(t, warehouse);
    expect(items).toHaveLength(4);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(
        [
          'id',
          'erased',
          'orderRef',
          'merchantId',
          'status',
          'method',
          'country',
          'deliveredAt',
          'notifiedAt',
          'updatedAt',
          'items',
        ].sort(),
      );
      expect(item.deliveredAt).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(item.orderRef).toMatch(/^ps1_/);
    }
  });

  it('keeps one pseudonym per subject for a recipient and different ones across recipients', async () => {
    const fromAnalytics = (await syncFeed(t, analytics)).items;
    const subjects = fromAnalytics.map((item) => item.subject);
    // customers[0] made the first two returns.
    expect(subjects[0]).toBe(subjects[1]);
    expect(new Set(subjects).size).toBe(3);
    const warehouseIds = new Set((await syncFeed(t, warehouse)).items.map((item) => item.id));
    for (const item of fromAnalytics) expect(warehouseIds.has(item.id as string)).toBe(false);
  });

  it('limits a merchant-bound token to that merchant', async () => {
    const token = await t.token('backend', { clientId: 'analytics', merchantId: 'merchant-b' });
    const { items } = await syncFeed(t, token);
    expect(items.map((item) => item.merchantId)).toEqual(['merchant-b']);
  });

  it('pages with the cursor and caps the limit at 1000', async () => {
    await untilFeedCaughtUp(t);
    const first = (await fetchPage(t, analytics, { limit: '3' })).json() as FeedResponse;
    expect(first.items).toHaveLength(3);
    expect(first.hasMore).toBe(true);
    const second = (await fetchPage(t, analytics, { limit: '3', after: first.next })).json() as FeedResponse;
    expect(second.items).toHaveLength(1);
    expect(second.hasMore).toBe(false);
    const empty = (await fetchPage(t, analytics, { after: second.next })).json() as FeedResponse;
    expect(empty).toEqual({ items: [], next: second.next, hasMore: false });

    await t.database.sql`
      insert into returns (id, merchant_id, order_ref, subject_id, method, refund_method, delivered_at,
        notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country)
      select gen_random_uuid(), merchant_id, order_ref || '-' || n, subject_id, method, refund_method,
        delivered_at, notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country
      from returns, generate_series(1, 400) as n where merchant_id = 'merchant-a'`;
    await untilFeedCaughtUp(t);
    const capped = await fetchPage(t, analytics, { limit: '5000' });
    expect(capped.statusCode).toBe(200);
    expect((capped.json() as FeedResponse).items).toHaveLength(1000);
    expect((capped.json() as FeedResponse).hasMore).toBe(true);
  });

  it.each([
    ['0', 'validation_failed'],
    ['-1', 'validation_failed'],
    ['abc', 'validation_failed'],
    ['1.5', 'validation_failed'],
  ])('refuses limit=%s with 400', async (limit, code) => {
    const response = await fetchPage(t, analytics, { limit });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe(code);
  });

  it('refuses a forged, edited or borrowed cursor with 400 invalid_cursor', async () => {
    const { next } = (await fetchPage(t, analytics, { limit: '1' })).json() as FeedResponse;
    const edited = `${next.slice(0, 10)}${next[10] === 'A' ? 'B' : 'A'}${next.slice(11)}`;
    // A well-formed cursor for a far position, signed with a key that is not the recipient's.
    const forged = encodeCursor({ xid: 1n, seq: 1n }, Buffer.alloc(32, 7));
    const borrowed = (await fetchPage(t, warehouse, { limit: '1' })).json().next as string;
    const ownKeyOtherRoot = encodeCursor(
      { xid: 0n, seq: 0n },
      createPseudonymKeys(Buffer.alloc(32, 1))('analytics').cursorKey,
    );
    for (const after of [edited, forged, borrowed, ownKeyOtherRoot, 'not-a-cursor', '%%%']) {
      const response = await fetchPage(t, analytics, { after });
      expect(response.statusCode, after).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json().code).toBe('invalid_cursor');
    }
  });

  it('answers 403 to a token naming no declared recipient, and to a token without pseudo:read', async () => {
    const stranger = await t.token('backend', { clientId: 'marketing' });
    const response = await fetchPage(t, stranger);
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('forbidden');
    // Without client_id the token's sub names the recipient.
    const bySub = await t.token('backend', { sub: 'warehouse' });
    expect((await fetchPage(t, bySub)).statusCode).toBe(200);
    const merchant = await t.token('merchant');
    expect((await fetchPage(t, merchant)).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/v1/pseudonymized/returns' })).statusCode).toBe(401);
  });

  it('rate-limits per recipient with 429 problem+json', async () => {
    const throttled = await t.token('backend', { clientId: 'throttled' });
    expect((await fetchPage(t, throttled, { limit: '1' })).statusCode).toBe(200);
    expect((await fetchPage(t, throttled, { limit: '1' })).statusCode).toBe(200);
    const limited = await fetchPage(t, throttled, { limit: '1' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.headers['retry-after']).toBeDefined();
    expect(limited.json().code).toBe('rate_limited');
    // Another recipient has its own budget.
    expect((await fetchPage(t, analytics, { limit: '1' })).statusCode).toBe(200);
  });

  it('records one audit event per page with counts and positions, no personal data', async () => {
    const rows = await t.database.sql`
      select client_id, target_id, details from audit_events
      where action = 'pseudonymized_feed.read' order by id`;
    expect(rows.length).toBeGreaterThan(0);
    const first = rows.find((row) => row.client_id === 'analytics' && row.details.count > 0)!;
    expect(first.target_id).toBe('analytics');
    expect(Object.keys(first.details).sort()).toEqual(['after', 'count', 'next', 'subjects', 'tombstones']);
    const text = JSON.stringify(rows);
    for (const customer of customers) {
      for (const value of Object.values(customer)) expect(text).not.toContain(value);
    }
  });
});
