import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { enqueueReturns, newSecret, startDispatcher, subscriptions } from './webhook-fixtures';
import { startReceiver, waitFor } from './webhook-receiver';

describe('webhook dispatcher', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  /** True once every delivery of the subscription is recorded as delivered (records are batched). */
  async function allDelivered(subscriptionId: string, count: number) {
    const rows = await deliveryStatuses(subscriptionId);
    return rows.length === 1 && rows[0]!.status === 'delivered' && rows[0]!.count === count;
  }

  async function deliveryStatuses(subscriptionId: string) {
    return database.sql<{ status: string; count: number }[]>`
      select status, count(*)::int as count from webhook_deliveries where subscription_id = ${subscriptionId}
      group by status`;
  }

  it('signs every delivery so the standardwebhooks package verifies it, with no personal data', async () => {
    const receiver = await startReceiver();
    const { secret, key } = newSecret();
    await startDispatcher(database, {
      subscriptions: subscriptions([
        { id: 'sig', url: receiver.url, merchantId: 'm-sig', events: ['return.created'] },
      ]),
      keys: new Map([['sig', key]]),
    });
    const ids = await enqueueReturns(database, 'm-sig', 3);
    await waitFor(() => receiver.received.length >= 3, 'three deliveries');

    const verifier = new Webhook(secret);
    for (const webhook of receiver.received) {
      const payload = verifier.verify(webhook.body, webhook.headers as Record<string, string>) as {
        type: string;
        data: Record<string, unknown>;
      };
      expect(payload.type).toBe('return.created');
      expect(Object.keys(payload.data).sort()).toEqual(['createdAt', 'returnId', 'status']);
      expect(webhook.body).not.toMatch(/@|iban|email|phone/i);
      // A tampered body must fail: the check above is not vacuous.
      expect(() => verifier.verify(`${webhook.body} `, webhook.headers as Record<string, string>)).toThrow();
    }
    expect(receiver.received.map((w) => w.headers['webhook-id']).sort()).toEqual([...ids].sort());
    await waitFor(() => allDelivered('sig', 3), 'the attempts recorded');
    expect(await deliveryStatuses('sig')).toEqual([{ status: 'delivered', count: 3 }]);
    await receiver.close();
  });

  it('delivers every event once a receiver that was down comes back, recording each failed attempt', async () => {
    const receiver = await startReceiver({ listening: false });
    const { key } = newSecret();
    await startDispatcher(database, {
      subscriptions: subscriptions([
        { id: 'down', url: receiver.url, merchantId: 'm-down', events: ['return.created'], maxAttempts: 50 },
      ]),
      keys: new Map([['down', key]]),
    });
    const ids = await enqueueReturns(database, 'm-down', 10);
    await waitFor(async () => {
      const [row] = await database.sql`
        select count(*)::int as n from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id
        where d.subscription_id = 'down' and a.error_class = 'connection_refused'`;
      return row!.n >= 10;
    }, 'refused attempts');
    await receiver.listen();
    await waitFor(
      () => new Set(receiver.received.map((w) => w.headers['webhook-id'])).size === 10,
      'all events',
    );
    expect(new Set(receiver.received.map((w) => w.headers['webhook-id']))).toEqual(new Set(ids));
    await waitFor(() => allDelivered('down', 10), 'all delivered');
    expect(await deliveryStatuses('down')).toEqual([{ status: 'delivered', count: 10 }]);
    await receiver.close();
  });

  it('delivers everything at least once with stable ids when the dispatcher dies mid-delivery', async () => {
    const receiver = await startReceiver();
    // The first requests reach the receiver but are never answered: the dispatcher dies in between.
    receiver.handle = () => {};
    const { key } = newSecret();
    const options = {
      subscriptions: subscriptions([
        {
          id: 'crash',
          url: receiver.url,
          merchantId: 'm-crash',
          events: ['return.created'],
          timeoutMs: 2000,
        },
      ]),
      keys: new Map([['crash', key]]),
    };
    const first = await startDispatcher(database, options);
    const ids = await enqueueReturns(database, 'm-crash', 12);
    await waitFor(() => receiver.received.length >= 8, 'requests in flight');
    await first.kill();
    const seenBeforeCrash = new Set(receiver.received.map((w) => w.headers['webhook-id']));

    receiver.handle = (_request, response) => response.writeHead(200).end('ok');
    const second = await startDispatcher(database, options);
    await waitFor(() => second.isLeader(), 'the second dispatcher leads');
    await waitFor(() => allDelivered('crash', 12), 'all delivered');

    const delivered = new Set(receiver.received.map((w) => w.headers['webhook-id']));
    expect(delivered).toEqual(new Set(ids));
    // Requests cut by the crash came again with the same webhook-id, so the receiver can drop duplicates.
    for (const id of seenBeforeCrash) {
      expect(receiver.received.filter((w) => w.headers['webhook-id'] === id).length).toBeGreaterThanOrEqual(
        2,
      );
    }
    await second.stop();
    await receiver.close();
  });

  it('lets only one of several dispatchers lead, and another take over when it stops', async () => {
    const options = { subscriptions: [], keys: new Map<string, Buffer>() };
    const a = await startDispatcher(database, options);
    const b = await startDispatcher(database, options);
    await waitFor(() => a.isLeader() || b.isLeader(), 'a leader');
    expect(a.isLeader() && b.isLeader()).toBe(false);
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    await leader.stop();
    await waitFor(() => follower.isLeader(), 'the follower takes over');
  });

  it('keeps delivering to a fast receiver while a slow one holds all its slots', async () => {
    const slow = await startReceiver();
    const fast = await startReceiver();
    slow.handle = () => {}; // never answers: each request ends in its timeout
    const { key } = newSecret();
    await startDispatcher(database, {
      subscriptions: subscriptions([
        { id: 'slow', url: slow.url, merchantId: 'm-shared', events: ['return.created'], timeoutMs: 10_000 },
        { id: 'fast', url: fast.url, merchantId: 'm-shared', events: ['return.created'] },
      ]),
      keys: new Map([
        ['slow', key],
        ['fast', key],
      ]),
      concurrencyPerTarget: 4,
    });
    const ids = await enqueueReturns(database, 'm-shared', 20);
    await waitFor(() => fast.received.length >= 20, 'the fast receiver gets every event');
    expect(new Set(fast.received.map((w) => w.headers['webhook-id']))).toEqual(new Set(ids));
    // Meanwhile the slow receiver has only its 4 slots in flight and has not answered one of them.
    expect(slow.received.length).toBe(4);
    const [slowRow] = await database.sql`
      select count(*)::int as n from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id
      where d.subscription_id = 'slow'`;
    expect(slowRow!.n).toBe(0);
    await slow.close();
    await fast.close();
  });

  it('gives up after maxAttempts into a dead letter, whose replay is delivered with the same id', async () => {
    const receiver = await startReceiver();
    receiver.handle = (_request, response) => response.writeHead(500).end('broken');
    const { key } = newSecret();
    await startDispatcher(database, {
      subscriptions: subscriptions([
        { id: 'dead', url: receiver.url, merchantId: 'm-dead', events: ['return.created'], maxAttempts: 3 },
      ]),
      keys: new Map([['dead', key]]),
    });
    const [id] = await enqueueReturns(database, 'm-dead', 1);
    await waitFor(async () => (await deliveryStatuses('dead'))[0]?.status === 'dead', 'a dead letter');
    const attempts = await database.sql`
      select a.attempt, a.outcome, a.status_code, a.error_class, a.duration_ms from webhook_attempts a
      join webhook_deliveries d on d.id = a.delivery_id where d.subscription_id = 'dead' order by a.id`;
    expect(attempts.map((a) => [a.attempt, a.outcome, a.status_code, a.error_class])).toEqual([
      [1, 'failed', 500, 'http_error'],
      [2, 'failed', 500, 'http_error'],
      [3, 'failed', 500, 'http_error'],
    ]);
    expect(receiver.received).toHaveLength(3);

    const { replayDelivery } = await import('../../src/webhooks/deliveries');
    const [delivery] = await database.sql`select id from webhook_deliveries where subscription_id = 'dead'`;
    receiver.handle = (_request, response) => response.writeHead(200).end();
    expect((await replayDelivery(database, delivery!.id, { actor: 'test' })).replayed).toBe(true);
    await waitFor(
      async () => (await deliveryStatuses('dead'))[0]?.status === 'delivered',
      'the replay delivered',
    );
    expect(receiver.received).toHaveLength(4);
    expect(new Set(receiver.received.map((w) => w.headers['webhook-id']))).toEqual(new Set([id]));
    await receiver.close();
  });

  it('does not follow redirects: a 3xx is a failed attempt and the other host is never called', async () => {
    const receiver = await startReceiver();
    const elsewhere = await startReceiver();
    receiver.handle = (_request, response) => response.writeHead(307, { location: elsewhere.url }).end();
    const { key } = newSecret();
    await startDispatcher(database, {
      subscriptions: subscriptions([
        {
          id: 'redirect',
          url: receiver.url,
          merchantId: 'm-redirect',
          events: ['return.created'],
          maxAttempts: 1,
        },
      ]),
      keys: new Map([['redirect', key]]),
    });
    await enqueueReturns(database, 'm-redirect', 1);
    await waitFor(async () => (await deliveryStatuses('redirect'))[0]?.status === 'dead', 'a dead letter');
    const [attempt] = await database.sql`
      select a.status_code, a.error_class from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id
      where d.subscription_id = 'redirect'`;
    expect(attempt).toMatchObject({ status_code: 307, error_class: 'redirect' });
    expect(elsewhere.received).toHaveLength(0);
    await receiver.close();
    await elsewhere.close();
  });
});
