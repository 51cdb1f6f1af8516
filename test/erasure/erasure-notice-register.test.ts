import { beforeAll, describe, expect, it } from 'vitest';
import { createReturn, randomCustomer, syncFeed } from '../pseudonymization/feed-fixtures';
import { runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('the recipients of an erased subject and what they were told (Art. 19)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('lists each recipient the data went to, and how many tombstones it has read since', async () => {
    const analytics = await t.token('backend', { clientId: 'analytics' });
    const customer = randomCustomer();
    await createReturn(t, customer);
    const before = await syncFeed(t, analytics);

    const { id } = await runRequest(t, { type: 'erasure', email: customer.email });
    const read = async () =>
      (
        await t.app.inject({ url: `/v1/subject-requests/${id}`, headers: bearer(await t.token('dpo')) })
      ).json();
    // Disclosed to analytics only (warehouse never read the feed), and not yet told.
    expect((await read()).recipients).toEqual([
      { recipientId: 'analytics', lastDisclosedAt: expect.any(String), returnsTold: 0, lastToldAt: null },
    ]);

    const after = await syncFeed(t, analytics, { after: before.next });
    expect(after.items).toEqual([expect.objectContaining({ erased: true })]);
    expect((await read()).recipients).toEqual([
      {
        recipientId: 'analytics',
        lastDisclosedAt: expect.any(String),
        returnsTold: 1,
        lastToldAt: expect.any(String),
      },
    ]);
  });
});
