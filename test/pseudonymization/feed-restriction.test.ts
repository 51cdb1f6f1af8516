import { beforeAll, describe, expect, it } from 'vitest';
import { createPseudonymKeys } from '../../src/pseudonymization/pseudonyms';
import { archiveReturns } from '../../src/returns/return-repository';
import { runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturn, randomCustomer, syncFeed } from './feed-fixtures';

describe('the pseudonymized feed and a restriction (GDPR Art. 18 and 19)', () => {
  let t: TestApp;
  let analytics: string;

  beforeAll(async () => {
    t = await createTestApp();
    analytics = await t.token('backend', { clientId: 'analytics' });
  });

  it('sends a restricted return as its pseudonym and the flag only, and the whole item once lifted', async () => {
    const customer = randomCustomer();
    const returnId = await createReturn(t, customer);
    await createReturn(t, randomCustomer());
    const pseudonym = createPseudonymKeys(t.config.pseudonymSecret)('analytics').pseudonym(
      'return',
      returnId,
    );
    const start = await syncFeed(t, analytics);
    expect(start.items.find((item) => item.id === pseudonym)).toMatchObject({
      erased: false,
      status: 'created',
    });

    const { id: requestId, response } = await runRequest(t, { type: 'restriction', email: customer.email });
    expect(response.json()).toMatchObject({ status: 'completed' });
    const restricted = await syncFeed(t, analytics, { after: start.next });
    // The restriction moved the return: it comes again, stripped, so the recipient stops processing it.
    expect(restricted.items).toEqual([{ id: pseudonym, erased: false, restricted: true }]);

    const lift = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${requestId}/lift-restriction`,
      headers: bearer(await t.token('dpo')),
    });
    expect(lift.statusCode, lift.body).toBe(200);
    const lifted = await syncFeed(t, analytics, { after: restricted.next });
    expect(lifted.items).toHaveLength(1);
    expect(lifted.items[0]).toMatchObject({ id: pseudonym, erased: false, status: 'created' });
    expect(lifted.items[0]).not.toHaveProperty('restricted');
  });

  it('flags an archived return too, and archiving a restricted return keeps the flag', async () => {
    const archivedFirst = randomCustomer();
    const archivedId = await createReturn(t, archivedFirst);
    await t.database
      .sql`update returns set data_state = 'archived', archived_at = now() where id = ${archivedId}`;
    const restrictedFirst = randomCustomer();
    const restrictedId = await createReturn(t, restrictedFirst);
    const keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
    const start = await syncFeed(t, analytics);

    await runRequest(t, { type: 'restriction', email: archivedFirst.email });
    await runRequest(t, { type: 'restriction', email: restrictedFirst.email });
    const restricted = await syncFeed(t, analytics, { after: start.next });
    expect(restricted.items).toEqual(
      expect.arrayContaining([
        { id: keys.pseudonym('return', archivedId), erased: false, restricted: true },
        { id: keys.pseudonym('return', restrictedId), erased: false, restricted: true },
      ]),
    );
    // Retention archives the restricted return: it moves, and stays flagged.
    await archiveReturns(t.database.db, [restrictedId]);
    const archived = await syncFeed(t, analytics, { after: restricted.next });
    expect(archived.items).toEqual([
      { id: keys.pseudonym('return', restrictedId), erased: false, restricted: true },
    ]);
  });
});
