import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { refundMethods, returnMethods } from '../../src/returns/return-requests';
import { returnStatuses } from '../../src/returns/return-status';
import { createTestApp, type TestApp } from '../support/test-app';
import { type Customer, createReturn, randomCustomer, syncFeed } from './feed-fixtures';

/** Arbitrary customers: every personal field varies, with a random tag so no value is a common word. */
const customerArbitrary: fc.Arbitrary<Customer> = fc
  .record({
    first: fc.stringMatching(/^[A-Z][a-zéèï]{2,10}$/),
    last: fc.stringMatching(/^[A-Z][a-z'-]{2,12}[a-z]$/),
    local: fc.stringMatching(/^[a-z][a-z0-9]{2,12}$/),
    street: fc.stringMatching(/^[A-Z][a-zéè]{3,15}$/),
    city: fc.stringMatching(/^[A-Z][a-zéè]{4,15}$/),
    comment: fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ,.!?éàç]{5,80}[a-z]$/),
    number: fc.integer({ min: 1, max: 999 }),
  })
  .map((parts) => {
    const base = randomCustomer();
    return {
      ...base,
      name: `${parts.first} ${parts.last}`,
      email: `${parts.local}.${base.email}`,
      line1: `${parts.number} rue ${parts.street}`,
      city: `${parts.city} ${base.city}`,
      comment: `${parts.comment} ${base.comment}`,
    };
  });

const forbiddenKeys = new Set([
  'name',
  'email',
  'phone',
  'address',
  'line1',
  'line2',
  'postalCode',
  'city',
  'iban',
  'comment',
]);

/** Every key and string value anywhere in a feed item. */
function walk(value: unknown, keys: string[], strings: string[]) {
  if (typeof value === 'string') strings.push(value);
  else if (Array.isArray(value)) for (const entry of value) walk(entry, keys, strings);
  else if (value && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      keys.push(key);
      walk(entry, keys, strings);
    }
  }
}

function expectNoPersonalValue(items: Record<string, unknown>[], customers: Customer[]) {
  const keys: string[] = [];
  const strings: string[] = [];
  walk(items, keys, strings);
  expect(keys.filter((key) => forbiddenKeys.has(key))).toEqual([]);
  for (const customer of customers) {
    // A 5-digit postal code could appear by chance inside a random pseudonym: compare whole values.
    expect(strings).not.toContain(customer.postalCode);
    const { postalCode: _postalCode, ...longValues } = customer;
    for (const value of Object.values(longValues)) {
      const leaked = strings.find((candidate) => candidate.includes(value));
      expect(leaked, 'a personal value reached the feed').toBeUndefined();
    }
  }
}

describe('pseudonymized feed privacy', () => {
  let t: TestApp;
  let tokens: string[];

  beforeAll(async () => {
    t = await createTestApp();
    tokens = [
      await t.token('backend', { clientId: 'analytics' }),
      await t.token('backend', { clientId: 'warehouse' }),
    ];
  });

  it('never carries a stored personal value, for any customer and any recipient', async () => {
    const stored: Customer[] = [];
    const cursors: (string | undefined)[] = tokens.map(() => undefined);
    await fc.assert(
      fc.asyncProperty(fc.array(customerArbitrary, { minLength: 1, maxLength: 3 }), async (batch) => {
        for (const customer of batch) {
          await createReturn(t, customer);
          stored.push(customer);
        }
        for (const [index, token] of tokens.entries()) {
          const { items, next } = await syncFeed(t, token, { after: cursors[index] });
          cursors[index] = next;
          expect(items).toHaveLength(batch.length);
          expectNoPersonalValue(items, stored);
        }
      }),
      { numRuns: 12 },
    );
    // The values did reach the database (encrypted): the check above compared against real data.
    const [row] = await t.database.sql`select count(*)::int as count from returns`;
    expect(row!.count).toBe(stored.length);
  });

  it('gives the same subject one pseudonym per recipient, different across recipients', async () => {
    const customer = randomCustomer();
    const other = randomCustomer();
    const [analytics] = tokens;
    const before = await syncFeed(t, analytics!);
    await createReturn(t, customer);
    await createReturn(t, other);
    await createReturn(t, customer, { merchantId: 'merchant-b' });
    const { items } = await syncFeed(t, analytics!, { after: before.next });
    expect(items).toHaveLength(3);
    expect(items[0]!.subject).toBe(items[2]!.subject);
    expect(items[1]!.subject).not.toBe(items[0]!.subject);
    // Across recipients: the analytics subject pseudonym never appears in what the warehouse receives.
    const warehouse = JSON.stringify((await syncFeed(t, tokens[1]!)).items);
    expect(warehouse).not.toContain(items[0]!.subject as string);
    expect(warehouse).not.toContain(items[0]!.id as string);
  });

  it('keeps stored items to their four keys, since the feed sends items as stored', async () => {
    const returnId = await createReturn(t, randomCustomer());
    const storeItems = (items: unknown) =>
      t.database.sql`update returns set items = ${JSON.stringify(items)}::jsonb where id = ${returnId}`;
    const refused = async (items: unknown) => {
      const error = await storeItems(items).catch((caught: unknown) => caught);
      expect(error, JSON.stringify(items)).toMatchObject({
        code: '23514',
        constraint_name: 'returns_items_keys',
      });
    };
    await refused([
      { sku: 'SKU-1', quantity: 1, unitPriceCents: 100, reason: 'damaged', comment: 'Jean Dupont' },
    ]);
    await refused([{ sku: { name: 'Jean Dupont' }, quantity: 1, unitPriceCents: 100, reason: 'damaged' }]);
    await refused(['Jean Dupont']);
    await refused({ sku: 'SKU-1' });
    await storeItems([{ sku: 'SKU-2', quantity: 2, unitPriceCents: 250, reason: 'too_small' }]);
    const { items } = await syncFeed(t, tokens[0]!);
    const stored = items.map((item) => item.items as { sku: string }[] | undefined);
    expect(stored.find((list) => list?.[0]?.sku === 'SKU-2')).toEqual([
      { sku: 'SKU-2', quantity: 2, unitPriceCents: 250, reason: 'too_small' },
    ]);
  });

  it('keeps the codes the feed writes unescaped to characters JSON never escapes', async () => {
    const returnId = await createReturn(t, randomCustomer());
    const refused = async (column: string, value: string) => {
      const error = await t.database.sql
        .unsafe(`update returns set ${column} = $1 where id = $2`, [value, returnId])
        .catch((caught: unknown) => caught);
      expect(error, `${column} = ${value}`).toMatchObject({
        code: '23514',
        constraint_name: 'returns_feed_codes',
      });
    };
    await refused('status', 'received","subject":"forged');
    await refused('method', 'mailbox\\');
    await refused('refund_method', 'bank\ntransfer');
    await refused('country', 'fr');
    await refused('postal_area', '7"5');
    // Every code the service writes passes: the constraint and the code lists must not drift apart.
    for (const status of returnStatuses)
      await t.database.sql`update returns set status = ${status} where id = ${returnId}`;
    for (const method of returnMethods)
      await t.database.sql`update returns set method = ${method} where id = ${returnId}`;
    for (const method of refundMethods)
      await t.database.sql`update returns set refund_method = ${method} where id = ${returnId}`;
    await t.database.sql`update returns set status = 'received', postal_area = 'D6W' where id = ${returnId}`;
    const { items } = await syncFeed(t, tokens[0]!);
    expect(items.find((item) => item.postalArea === 'D6W')).toMatchObject({ status: 'received' });
  });
});
