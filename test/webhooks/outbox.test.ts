import { beforeAll, describe, expect, it } from 'vitest';
import { fanOutEvents } from '../../src/webhooks/deliveries';
import { enqueueWebhookEvent } from '../../src/webhooks/outbox';
import { WebhookPayloadError } from '../../src/webhooks/webhook-payload';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { subscriptions } from './webhook-fixtures';

describe('webhook outbox', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  async function eventCount(merchantId: string) {
    const [row] =
      await database.sql`select count(*)::int as n from webhook_events where merchant_id = ${merchantId}`;
    return row!.n as number;
  }

  it('writes the event only when the caller commits', async () => {
    await expect(
      database.db.transaction(async (tx) => {
        await enqueueWebhookEvent(tx, {
          type: 'return.status_changed',
          merchantId: 'm-rollback',
          data: { returnId: 'r1', status: 'dispatched', previousStatus: 'created' },
        });
        throw new Error('the change fails');
      }),
    ).rejects.toThrow('the change fails');
    expect(await eventCount('m-rollback')).toBe(0);

    const id = await database.db.transaction((tx) =>
      enqueueWebhookEvent(tx, {
        type: 'return.status_changed',
        merchantId: 'm-rollback',
        data: {
          returnId: 'r1',
          status: 'dispatched',
          event: { type: 'dispatched', occurredAt: '2026-11-20T10:00:00Z' },
        },
      }),
    );
    const [row] = await database.sql`select type, data, fanned_out_at from webhook_events where id = ${id}`;
    expect(row).toMatchObject({ type: 'return.status_changed', fanned_out_at: null });
    expect(row!.data).toMatchObject({ returnId: 'r1', status: 'dispatched' });
  });

  it.each([
    ['an e-mail', { returnId: 'r1', status: 'created', contact: 'jeanne.dupont@example.fr' }],
    ['a name with spaces', { returnId: 'r1', status: 'created', who: 'Jeanne Dupont' }],
    ['a phone number', { returnId: 'r1', status: 'created', ref: '+33612345678' }],
    ['an IBAN', { returnId: 'r1', status: 'created', ref: 'FR7630006000011234567890189' }],
    ['a personal field name', { returnId: 'r1', status: 'created', email: 'x' }],
    ['a nested personal field', { returnId: 'r1', status: 'created', customer: { name: 'Dupont' } }],
    ['a missing required field', { status: 'created' }],
  ])('refuses a payload carrying %s, without echoing the value', async (_label, data) => {
    const attempt = database.db.transaction((tx) =>
      enqueueWebhookEvent(tx, { type: 'return.created', merchantId: 'm-refused', data }),
    );
    await expect(attempt).rejects.toBeInstanceOf(WebhookPayloadError);
    await expect(attempt).rejects.not.toThrow(/jeanne|dupont|3361|FR76/i);
    expect(await eventCount('m-refused')).toBe(0);
  });

  it('addresses an event to exactly one merchant or one recipient', async () => {
    for (const address of [{}, { merchantId: 'm1', recipientId: 'analytics' }]) {
      await expect(
        database.db.transaction((tx) =>
          enqueueWebhookEvent(tx, { type: 'return.erased', ...address, data: { returnId: 'r1' } }),
        ),
      ).rejects.toBeInstanceOf(WebhookPayloadError);
    }
  });

  it('fans out merchant events to that merchant and catch-alls, recipient events only to that recipient', async () => {
    const subs = subscriptions([
      {
        id: 'merchant',
        url: 'https://a.example/h',
        merchantId: 'm1',
        events: ['return.created', 'return.erased'],
      },
      { id: 'all', url: 'https://b.example/h', events: ['return.created', 'return.erased'] },
      { id: 'bi', url: 'https://c.example/h', recipientId: 'analytics', events: ['return.erased'] },
      { id: 'wh', url: 'https://d.example/h', recipientId: 'warehouse', events: ['return.erased'] },
    ]);
    const enqueue = (input: Parameters<typeof enqueueWebhookEvent>[1]) =>
      database.db.transaction((tx) => enqueueWebhookEvent(tx, input));
    const events = {
      m1Created: await enqueue({
        type: 'return.created',
        merchantId: 'm1',
        data: { returnId: 'r1', status: 'created' },
      }),
      m2Created: await enqueue({
        type: 'return.created',
        merchantId: 'm2',
        data: { returnId: 'r2', status: 'created' },
      }),
      m1Overdue: await enqueue({
        type: 'return.refund_overdue',
        merchantId: 'm1',
        data: { returnId: 'r1', refundDueAt: '2026-12-01T00:00:00Z' },
      }),
      biErased: await enqueue({
        type: 'return.erased',
        recipientId: 'analytics',
        data: { returnId: 'ps1_abc' },
      }),
    };
    await fanOutEvents(database.sql, subs);
    const rows = await database.sql<{ event_id: string; subscription_id: string }[]>`
      select event_id, subscription_id from webhook_deliveries`;
    const targets = (eventId: string) =>
      rows
        .filter((r) => r.event_id === eventId)
        .map((r) => r.subscription_id)
        .sort();
    expect(targets(events.m1Created)).toEqual(['all', 'merchant']);
    expect(targets(events.m2Created)).toEqual(['all']);
    expect(targets(events.m1Overdue)).toEqual([]);
    expect(targets(events.biErased)).toEqual(['bi']);
    const [pending] =
      await database.sql`select count(*)::int as n from webhook_events where fanned_out_at is null`;
    expect(pending!.n).toBe(0);
  });
});
