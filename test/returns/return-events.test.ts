import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturnVia, daysAgo, returnRequest } from './return-fixtures';

describe('return events', () => {
  let t: TestApp;
  let carrierToken: string;
  beforeAll(async () => {
    t = await createTestApp();
    carrierToken = await t.token('carrier');
  });

  const newReturn = async (tag: string, overrides: Record<string, unknown> = {}) =>
    (
      await createReturnVia(
        t,
        returnRequest({ deliveredAt: daysAgo(6), notifiedAt: daysAgo(5), ...overrides }, tag),
      )
    ).json().id as string;
  const post = (id: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: `/v1/returns/${id}/events`, headers: bearer(carrierToken), payload });
  const status = async (id: string) =>
    (await t.database.sql`select status from returns where id = ${id}`)[0]!.status;

  it('refuses an event dated before the delivery, which would start the clocks in the past', async () => {
    const id = await newReturn('before-delivery');
    const backdated = await post(id, { type: 'cancelled', occurredAt: '2000-01-02T00:00:00Z' });
    expect(backdated.statusCode).toBe(422);
    expect(backdated.json()).toMatchObject({
      code: 'unprocessable',
      errors: [{ path: 'body.occurredAt', message: expect.stringContaining('deliveredAt') }],
    });
    expect(await status(id)).toBe('created');
    const [events] = await t.database
      .sql`select count(*)::int as n from return_events where return_id = ${id}`;
    expect(events!.n).toBe(0);
  });

  it('keeps no tracking details on an erased return, while a sibling return of the subject does', async () => {
    const erased = await newReturn('erased-sibling');
    const sibling = await newReturn('erased-sibling', { orderRef: 'ORD-erased-sibling-2' });
    // Retention erased the first return's contact data; the second keeps the subject's key alive.
    await t.database.sql`update returns set erased_at = now() where id = ${erased}`;
    for (const id of [erased, sibling]) {
      const response = await post(id, { carrierCode: 'ECHCFM', occurredAt: daysAgo(4), location: 'Loge 4' });
      expect(response.statusCode, response.body).toBe(201);
    }
    const stored = await t.database.sql`
      select return_id, location_enc is not null as kept from return_events where return_id in ${t.database.sql([erased, sibling])}`;
    expect(Object.fromEntries(stored.map((row) => [row.return_id, row.kept]))).toEqual({
      [erased]: false,
      [sibling]: true,
    });
  });

  it('maps carrier codes, stores the event and moves the status', async () => {
    const id = await newReturn('scan');
    const response = await post(id, {
      carrierCode: 'ECHCFM',
      carrier: 'colissimo',
      occurredAt: daysAgo(4),
      location: 'Boîte aux lettres 12 rue Cachée',
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      duplicate: false,
      event: {
        type: 'dispatched',
        origin: 'carrier',
        carrierCode: 'ECHCFM',
        reason: 'collected_from_letterbox',
        location: null,
      },
      return: { status: 'dispatched' },
    });
    // The proof of dispatch ends the deferral: the refund is due 14 days after the notification.
    const notified = new Date(Date.parse(daysAgo(5)));
    const dueAt = new Date(response.json().return.refund.dueAt);
    expect(Math.abs(dueAt.getTime() - (notified.getTime() + 14 * 86_400_000))).toBeLessThan(60_000);
    expect(await status(id)).toBe('dispatched');
    const [stored] = await t.database.sql`select location_enc from return_events where return_id = ${id}`;
    expect(Buffer.from(stored!.location_enc).toString('latin1')).not.toContain('Cachée');
    const body = (
      await t.app.inject({
        url: `/v1/returns/${id}`,
        headers: { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' },
      })
    ).json();
    expect(body.events).toHaveLength(1);
    expect(body.events[0].location).toBe('Boîte aux lettres 12 rue Cachée');
    expect(body.refund.dueAt).not.toBeNull();
  });

  it('announces the creation and each status change through the webhook outbox, without personal data', async () => {
    const id = await newReturn('outbox');
    await post(id, { carrierCode: 'ECHCFM', occurredAt: daysAgo(3) });
    await post(id, { carrierCode: 'EMLCFM', occurredAt: daysAgo(3.5) }); // earlier scan: no status change
    const rows = await t.database.sql`
      select type, merchant_id, data from webhook_events where data->>'returnId' = ${id} order by created_at, type`;
    expect(rows.map((row) => [row.type, row.data.status])).toEqual([
      ['return.created', 'created'],
      ['return.status_changed', 'dispatched'],
    ]);
    expect(rows[1]!.data).toMatchObject({ previousStatus: 'created' });
    expect(rows[0]!.merchant_id).toBe('m-100');
    expect(JSON.stringify(rows)).not.toContain('Vauquelin');
  });

  it('accepts a repeated event once', async () => {
    const id = await newReturn('repeat');
    const event = { carrierCode: 'PC1', carrier: 'laposte', occurredAt: daysAgo(4) };
    expect((await post(id, event)).statusCode).toBe(201);
    const again = await post(id, event);
    expect(again.statusCode).toBe(200);
    expect(again.json().duplicate).toBe(true);
    const [count] = await t.database
      .sql`select count(*)::int as n from return_events where return_id = ${id}`;
    expect(count!.n).toBe(1);
    // Concurrent repeats also land once.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => post(id, { ...event, carrierCode: 'ET1' })),
    );
    expect(burst.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 201]);
    const [after] = await t.database
      .sql`select count(*)::int as n from return_events where return_id = ${id}`;
    expect(after!.n).toBe(2);
  });

  it('keeps every event when they arrive out of order, without moving the status back', async () => {
    const id = await newReturn('disorder');
    await post(id, { carrierCode: 'DI1', occurredAt: daysAgo(1) });
    expect(await status(id)).toBe('received');
    await post(id, { carrierCode: 'ET2', occurredAt: daysAgo(2) });
    await post(id, { carrierCode: 'ECHCFM', occurredAt: daysAgo(4) });
    await post(id, { carrierCode: 'EMLCFM', occurredAt: daysAgo(5) });
    expect(await status(id)).toBe('received');
    const events = await t.database
      .sql`select type from return_events where return_id = ${id} order by occurred_at`;
    expect(events.map((e) => e.type)).toEqual(['pickup_scheduled', 'dispatched', 'in_transit', 'received']);
  });

  it('lets a rescheduled pickup follow a failed one', async () => {
    const id = await newReturn('pickup');
    await post(id, { carrierCode: 'EMLCFM', occurredAt: daysAgo(4.5) });
    const failed = await post(id, { carrierCode: 'ENEDAF', occurredAt: daysAgo(4) });
    expect(failed.json().event).toMatchObject({ type: 'pickup_failed', reason: 'letterbox_not_accessible' });
    expect(await status(id)).toBe('pickup_failed');
    await post(id, { carrierCode: 'EMLCFM', occurredAt: daysAgo(3) });
    expect(await status(id)).toBe('pickup_scheduled');
  });

  it('keeps unknown codes as anomalies that do not change the status', async () => {
    const id = await newReturn('unknown');
    await post(id, { carrierCode: 'ET1', occurredAt: daysAgo(3) });
    const response = await post(id, { carrierCode: 'XYZ42', occurredAt: daysAgo(2) });
    expect(response.statusCode).toBe(201);
    expect(response.json().event).toMatchObject({
      type: 'anomaly',
      carrierCode: 'XYZ42',
      reason: 'unknown_carrier_code',
    });
    expect(await status(id)).toBe('in_transit');
    const returned = await post(id, { carrierCode: 'RE1', occurredAt: daysAgo(1) });
    expect(returned.json().event.type).toBe('anomaly');
    expect(await status(id)).toBe('in_transit');
  });

  it('follows the merchant state machine and answers 409 with the allowed transitions', async () => {
    const id = await newReturn('machine');
    const refused = await post(id, { type: 'refunded', amountCents: 7999, occurredAt: daysAgo(1) });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({
      code: 'transition_not_allowed',
      status: 409,
      currentStatus: 'created',
    });
    expect(refused.json().allowed).toEqual(expect.arrayContaining(['label_created', 'cancelled', 'anomaly']));
    for (const [type, extra] of [
      ['label_created', {}],
      ['dispatched', {}],
      ['received', {}],
      ['inspected', {}],
      ['refunded', { amountCents: 7999 }],
    ] as const) {
      const response = await post(id, {
        type,
        occurredAt: daysAgo(
          4 - ['label_created', 'dispatched', 'received', 'inspected', 'refunded'].indexOf(type) * 0.5,
        ),
        ...extra,
      });
      expect(response.statusCode, type).toBe(201);
    }
    const [row] = await t.database
      .sql`select status, refunded_cents, refunded_at from returns where id = ${id}`;
    expect(row).toMatchObject({ status: 'refunded', refunded_cents: '7999' });
    expect(row!.refunded_at).not.toBeNull();
    expect((await post(id, { type: 'rejected', reason: 'damaged', occurredAt: daysAgo(1) })).statusCode).toBe(
      409,
    );
    expect((await post(id, { type: 'closed', occurredAt: daysAgo(0.5) })).statusCode).toBe(201);
    const closed = await post(id, { type: 'cancelled', occurredAt: daysAgo(0.1) });
    expect(closed.json().allowed).toEqual(['anomaly']);
  });

  it('validates event bodies', async () => {
    const id = await newReturn('invalid');
    const cases: Record<string, unknown>[] = [
      { occurredAt: daysAgo(1) },
      { type: 'dispatched', carrierCode: 'PC1', occurredAt: daysAgo(1) },
      { type: 'teleported', occurredAt: daysAgo(1) },
      { type: 'refunded', occurredAt: daysAgo(1) },
      { type: 'rejected', occurredAt: daysAgo(1) },
      { type: 'label_created', occurredAt: 'yesterday' },
      { type: 'label_created', occurredAt: new Date(Date.now() + 3_600_000).toISOString() },
      { carrierCode: 'PC 1 !', occurredAt: daysAgo(1) },
      { type: 'rejected', reason: 'Jean Dupont was rude', occurredAt: daysAgo(1) },
    ];
    for (const payload of cases) {
      const response = await post(id, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.body).not.toContain('Jean Dupont');
    }
    expect(
      (await post('00000000-0000-4000-8000-000000000000', { type: 'label_created', occurredAt: daysAgo(1) }))
        .statusCode,
    ).toBe(404);
  });

  it('records every event in the audit log without personal data', async () => {
    const id = await newReturn('audit');
    await post(id, { carrierCode: 'ECHCFM', occurredAt: daysAgo(2), proof: 'Signature Mme Proof-Secret' });
    const audits = await t.database.sql`
      select details::text as details, subject_ref from audit_events where action = 'return.event' and target_id = ${id}`;
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).not.toContain('Proof-Secret');
    expect(audits[0]!.subject_ref).not.toBeNull();
  });
});
