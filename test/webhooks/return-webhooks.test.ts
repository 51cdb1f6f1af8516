import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { newSecret, startDispatcher, subscriptions } from './webhook-fixtures';
import { startReceiver, waitFor } from './webhook-receiver';

describe('return webhooks end to end', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('announces a created return and its status change, signed, with no personal data', async () => {
    const receiver = await startReceiver();
    const { secret, key } = newSecret();
    await startDispatcher(t.database, {
      subscriptions: subscriptions([
        {
          id: 'shop',
          url: receiver.url,
          merchantId: 'm-100',
          events: ['return.created', 'return.status_changed'],
        },
      ]),
      keys: new Map([['shop', key]]),
    });
    const created = await createReturnVia(t, returnRequest({}, 'wh1'));
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const carrier = await t.token('carrier');
    const event = await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${id}/events`,
      headers: bearer(carrier),
      payload: { type: 'dispatched', occurredAt: new Date().toISOString() },
    });
    expect(event.statusCode).toBeLessThan(300);

    await waitFor(() => receiver.received.length >= 2, 'two webhooks');
    const verifier = new Webhook(secret);
    const payloads = receiver.received.map(
      (w) =>
        verifier.verify(w.body, w.headers as Record<string, string>) as {
          type: string;
          data: Record<string, unknown>;
        },
    );
    expect(payloads.map((p) => p.type).sort()).toEqual(['return.created', 'return.status_changed']);
    for (const p of payloads) expect(p.data.returnId).toBe(id);
    expect(payloads.find((p) => p.type === 'return.status_changed')!.data).toMatchObject({
      status: 'dispatched',
      previousStatus: 'created',
      event: { type: 'dispatched' },
    });
    // None of the customer's values travels: name, e-mail, phone, street, city, IBAN, comment.
    for (const w of receiver.received) {
      expect(w.body).not.toMatch(
        /Vauquelin|example\.org|612345678|Quatre-Vents|Paris-Secret|FR1420041|Trop petit/,
      );
    }
    await receiver.close();
  });
});
