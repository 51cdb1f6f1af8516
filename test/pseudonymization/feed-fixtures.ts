import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { composeIBAN } from 'ibantools';
import { expect } from 'vitest';
import { feedPageSchema } from '../../src/pseudonymization/feed-item';
import { bearer, type TestApp } from '../support/test-app';

/** The personal values of one return, as the customer gave them. */
export interface Customer {
  name: string;
  email: string;
  phone: string;
  line1: string;
  line2: string;
  postalCode: string;
  city: string;
  iban: string;
  comment: string;
}

const digits = (count: number) => Array.from({ length: count }, () => randomInt(10)).join('');

export function randomCustomer(): Customer {
  const tag = digits(6);
  return {
    name: `Camille Dupont${tag}`,
    email: `camille.${tag}@example.org`,
    phone: `+336${digits(8)}`,
    line1: `${randomInt(1, 200)} rue des Lilas ${tag}`,
    line2: `Appartement ${tag}`,
    postalCode: `75${String(randomInt(1, 21)).padStart(3, '0')}`,
    city: `Parisville${tag}`,
    iban: composeIBAN({ countryCode: 'DE', bban: digits(18) })!,
    comment: `Trop petit, voir avec ${tag}`,
  };
}

const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

/** A valid POST /v1/returns body for the customer. */
export function returnBody(customer: Customer, options: { merchantId?: string; orderRef?: string } = {}) {
  return {
    merchantId: options.merchantId ?? 'merchant-a',
    orderRef: options.orderRef ?? `ORD-${digits(10)}`,
    deliveredAt: daysAgo(3),
    notifiedAt: daysAgo(1),
    customer: {
      name: customer.name,
      email: customer.email,
      phone: customer.phone,
      address: {
        line1: customer.line1,
        line2: customer.line2,
        postalCode: customer.postalCode,
        city: customer.city,
        country: 'FR',
      },
    },
    items: [
      {
        sku: 'SKU-TSHIRT-M',
        quantity: 2,
        unitPriceCents: 1999,
        reason: 'too_small',
        comment: customer.comment,
      },
      { sku: 'SKU-MUG', quantity: 1, unitPriceCents: 850, reason: 'damaged' },
    ],
    method: 'post_office',
    refund: { method: 'bank_transfer', iban: customer.iban },
  };
}

/** Creates a return through the real API, as a merchant system would. */
export async function createReturn(
  t: TestApp,
  customer: Customer,
  options: { merchantId?: string; orderRef?: string } = {},
): Promise<string> {
  const token = await t.token('merchant', { merchantId: options.merchantId ?? 'merchant-a' });
  const response = await t.app.inject({
    method: 'POST',
    url: '/v1/returns',
    headers: bearer(token),
    payload: returnBody(customer, options),
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().id as string;
}

export interface FeedResponse {
  items: Record<string, unknown>[];
  next: string;
  hasMore: boolean;
}

export async function fetchPage(t: TestApp, token: string, query: Record<string, string> = {}) {
  return t.app.inject({ method: 'GET', url: '/v1/pseudonymized/returns', headers: bearer(token), query });
}

/** True when no write to returns (deletions included) is still held back by a running transaction. */
async function caughtUp(t: TestApp): Promise<boolean> {
  const [row] = await t.database.sql`
    select coalesce(greatest(
      (select max(feed_xid) from returns), (select max(feed_xid) from returns_feed_deletions)
    ) < pg_snapshot_xmin(pg_current_snapshot()), true) as done`;
  return row!.done as boolean;
}

/**
 * Waits until the feed can read every write made so far. The feed reads a write once every
 * transaction older than it has ended, cluster-wide: other test files share the cluster and some hold
 * transactions open on purpose.
 */
export async function untilFeedCaughtUp(t: TestApp): Promise<void> {
  while (!(await caughtUp(t))) await sleep(20);
}

/**
 * Reads the feed from `after` until it is empty and every committed write is below the horizon, the
 * way a recipient keeps a replica. Returns every item in feed order and the last cursor.
 */
export async function syncFeed(
  t: TestApp,
  token: string,
  options: { after?: string; limit?: number } = {},
): Promise<{ items: Record<string, unknown>[]; next: string | undefined; pages: number }> {
  const items: Record<string, unknown>[] = [];
  let after = options.after;
  let pages = 0;
  for (;;) {
    const query: Record<string, string> = { limit: String(options.limit ?? 100) };
    if (after) query.after = after;
    // Checked before the read: an empty page read after a caught-up horizon has seen every write.
    const wasCaughtUp = await caughtUp(t);
    const response = await fetchPage(t, token, query);
    expect(response.statusCode, response.body).toBe(200);
    // The route skips response validation for speed (feed-routes.ts): every page is checked here.
    const page = feedPageSchema.parse(response.json()) as FeedResponse;
    pages++;
    items.push(...page.items);
    after = page.next;
    if (page.items.length === 0 && wasCaughtUp) return { items, next: after, pages };
    if (page.items.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Applies feed items to a replica keyed by pseudonym, as a recipient would: last write wins. */
export function applyToReplica(
  replica: Map<string, Record<string, unknown>>,
  items: Record<string, unknown>[],
) {
  for (const item of items) replica.set(item.id as string, item);
}
