import { beforeAll, describe, expect, it } from 'vitest';
import { announceOverdueRefunds } from '../../src/returns/refund-overdue';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturnVia, daysAgo, returnRequest } from './return-fixtures';

describe('refund overdue announcements', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  async function returnWithRefundDue(tag: string, notifiedDaysAgo: number, dispatchedDaysAgo: number) {
    // Withdrawal information not given: the window runs 12 months more, so an old delivery is eligible.
    const created = await createReturnVia(
      t,
      returnRequest(
        { deliveredAt: daysAgo(60), notifiedAt: daysAgo(notifiedDaysAgo), withdrawalInfoGiven: false },
        tag,
      ),
    );
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    const event = await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${id}/events`,
      headers: bearer(await t.token('carrier')),
      payload: { carrierCode: 'ECHCFM', occurredAt: daysAgo(dispatchedDaysAgo), carrier: 'colissimo' },
    });
    expect(event.statusCode, event.body).toBeLessThan(300);
    return id;
  }

  it('announces each overdue refund once, with ids and clocks only, and leaves refunds not yet due alone', async () => {
    // Due 14 days after notification at the earliest (L221-24): 36 days ago, and 12 days from now.
    const overdue = await returnWithRefundDue('late1', 50, 45);
    const notYetDue = await returnWithRefundDue('late2', 2, 1);

    expect(await announceOverdueRefunds(t.database.db, new Date())).toBe(1);
    expect(await announceOverdueRefunds(t.database.db, new Date())).toBe(0);

    const events = await t.database.sql`
      select data from webhook_events where type = 'return.refund_overdue'`;
    expect(events.map((row) => row.data.returnId)).toEqual([overdue]);
    expect(events[0]?.data.refundDueAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(JSON.stringify(events)).not.toMatch(/Vauquelin|example\.org|Quatre-Vents/);

    // Thirteen days on, the other one is overdue too.
    const later = new Date(Date.now() + 13 * 86_400_000);
    expect(await announceOverdueRefunds(t.database.db, later)).toBe(1);
    const [row] = await t.database
      .sql`select return_id from refund_overdue_notices where return_id = ${notYetDue}`;
    expect(row?.return_id).toBe(notYetDue);
  });
});
