import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  disclosuresForSubject,
  recipientsToldOfErasure,
} from '../../src/pseudonymization/disclosure-register';
import { createPseudonymKeys, type RecipientKeys } from '../../src/pseudonymization/pseudonyms';
import { deleteReturns } from '../../src/returns/return-repository';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import {
  applyToReplica,
  createReturn,
  type FeedResponse,
  fetchPage,
  randomCustomer,
  syncFeed,
} from './feed-fixtures';

/** A transaction on its own connection, held open until `commit()`: a slow writer. */
async function heldTransaction(url: string, write: (tx: postgres.TransactionSql) => Promise<unknown>) {
  const connection = postgres(url, { max: 1, onnotice: () => {} });
  let commit!: () => void;
  const released = new Promise<void>((resolve) => {
    commit = resolve;
  });
  let written!: () => void;
  const ready = new Promise<void>((resolve) => {
    written = resolve;
  });
  const done = connection
    .begin(async (tx) => {
      await write(tx);
      written();
      await released;
    })
    .finally(() => connection.end());
  await ready;
  return {
    commit: async () => {
      commit();
      await done;
    },
  };
}

/** A copy of an existing return inserted in SQL, as a bulk loader would: the trigger stamps it too. */
const copyReturnSql = (tx: postgres.TransactionSql, sourceId: string) => tx`
  insert into returns (id, merchant_id, order_ref, subject_id, method, refund_method, delivered_at,
    notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country)
  select gen_random_uuid(), merchant_id, order_ref || '-late', subject_id, method, refund_method, delivered_at,
    notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country
  from returns where id = ${sourceId} returning id`;

describe('pseudonymized feed under concurrent writes', () => {
  let t: TestApp;
  let token: string;
  let keys: RecipientKeys;

  beforeAll(async () => {
    t = await createTestApp();
    token = await t.token('backend', { clientId: 'analytics' });
    keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
  });

  /** What a recipient's replica must hold once in sync: every return, by pseudonym, as the table says. */
  async function expectReplicaMatchesTable(replica: Map<string, Record<string, unknown>>) {
    const rows = await t.database.sql`select id, status, postal_area, erased_at from returns`;
    expect(replica.size).toBe(rows.length);
    for (const row of rows) {
      const item = replica.get(keys.pseudonym('return', row.id));
      expect(item, `return ${row.id} missing from the replica`).toBeDefined();
      if (row.erased_at) expect(item).toEqual({ id: keys.pseudonym('return', row.id), erased: true });
      else expect(item).toMatchObject({ erased: false, status: row.status, postalArea: row.postal_area });
    }
  }

  it('misses no row and no tombstone when transactions commit out of order', async () => {
    const replica = new Map<string, Record<string, unknown>>();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await createReturn(t, randomCustomer()));
    let { items, next } = await syncFeed(t, token);
    applyToReplica(replica, items);

    // Slow writer A: started first (lowest transaction id and sequence), committed last.
    const slowA = await heldTransaction(t.database.url, async (tx) => {
      await tx`update returns set status = 'in_transit', updated_at = now() where id = ${ids[0]!}`;
      await tx`update returns set erased_at = now() where id = ${ids[1]!}`;
    });
    // Slow writer B: a late insert, committed before A.
    let lateInsertId = '';
    const slowB = await heldTransaction(t.database.url, async (tx) => {
      const [row] = await copyReturnSql(tx, ids[2]!);
      lateInsertId = row!.id as string;
    });

    // Meanwhile other writers commit, and the recipient keeps reading.
    const writers = (async () => {
      for (let i = 0; i < 8; i++) {
        ids.push(await createReturn(t, randomCustomer()));
        if (i === 3) await t.database.sql`update returns set erased_at = now() where id = ${ids[3]!}`;
        if (i === 5) await t.database.sql`update returns set postal_area = '69' where id = ${ids[4]!}`;
      }
    })();
    const seenWhileHeld: Record<string, unknown>[] = [];
    const reader = (async () => {
      for (let i = 0; i < 10; i++) {
        const page = (await fetchPage(t, token, { after: next!, limit: '3' })).json() as FeedResponse;
        seenWhileHeld.push(...page.items);
        applyToReplica(replica, page.items);
        next = page.next;
      }
    })();
    await Promise.all([writers, reader]);
    // Everything committed after A began waits behind A: the cursor cannot pass A's rows.
    expect(seenWhileHeld).toEqual([]);

    await slowB.commit();
    await slowA.commit();
    ({ items, next } = await syncFeed(t, token, { after: next }));
    applyToReplica(replica, items);

    await expectReplicaMatchesTable(replica);
    expect(replica.get(keys.pseudonym('return', ids[0]!))).toMatchObject({ status: 'in_transit' });
    expect(replica.get(keys.pseudonym('return', ids[1]!))).toEqual({
      id: keys.pseudonym('return', ids[1]!),
      erased: true,
    });
    expect(replica.get(keys.pseudonym('return', lateInsertId))).toMatchObject({ erased: false });
    expect(replica.get(keys.pseudonym('return', ids[4]!))).toMatchObject({ postalArea: '69' });
  });

  it('stays complete while many writers and a reader run at once', async () => {
    const replica = new Map<string, Record<string, unknown>>();
    const { items, next } = await syncFeed(t, token);
    applyToReplica(replica, items);
    let cursor = next;
    let writing = true;
    const writer = async (merchant: number) => {
      for (let i = 0; i < 6; i++) {
        const id = await createReturn(t, randomCustomer(), { merchantId: `merchant-${merchant}` });
        if (i % 2 === 0) await t.database.sql`update returns set status = 'received' where id = ${id}`;
        if (i % 3 === 0) await t.database.sql`update returns set erased_at = now() where id = ${id}`;
      }
    };
    const reader = (async () => {
      while (writing) {
        const page = (await fetchPage(t, token, { after: cursor!, limit: '4' })).json() as FeedResponse;
        applyToReplica(replica, page.items);
        cursor = page.next;
      }
    })();
    await Promise.all([writer(1), writer(2), writer(3)]);
    writing = false;
    await reader;
    applyToReplica(replica, (await syncFeed(t, token, { after: cursor })).items);
    await expectReplicaMatchesTable(replica);
  });
});

describe('disclosure register', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });

  const subjectOf = async (returnId: string) =>
    (await t.database.sql`select subject_id from returns where id = ${returnId}`)[0]!.subject_id as string;

  it('records subjects disclosed per recipient, first and last, and tombstones read', async () => {
    const analytics = await t.token('backend', { clientId: 'analytics' });
    const warehouse = await t.token('backend', { clientId: 'warehouse' });
    const alice = randomCustomer();
    const bob = randomCustomer();
    const aliceFirst = await createReturn(t, alice);
    await createReturn(t, alice);
    const bobReturn = await createReturn(t, bob);
    const aliceId = await subjectOf(aliceFirst);
    const bobId = await subjectOf(bobReturn);

    const first = await syncFeed(t, analytics);
    const [afterFirst] = await disclosuresForSubject(t.database.db, aliceId);
    expect(afterFirst).toMatchObject({ recipientId: 'analytics' });
    // Alice's two returns may come in two pages when another database's transaction holds back the
    // horizon (transaction ids are cluster-wide), so the first sync may already move `last`.
    expect(afterFirst!.firstDisclosedAt.getTime()).toBeLessThanOrEqual(afterFirst!.lastDisclosedAt.getTime());
    expect(await disclosuresForSubject(t.database.db, bobId)).toHaveLength(1);

    // A rectification moves the return; the next page discloses Alice again.
    await t.database.sql`update returns set postal_area = '13' where id = ${aliceFirst}`;
    const rectified = await syncFeed(t, analytics, { after: first.next });
    expect(rectified.items).toHaveLength(1);
    expect(rectified.items[0]).toMatchObject({ postalArea: '13' });
    const [afterSecond] = await disclosuresForSubject(t.database.db, aliceId);
    expect(afterSecond!.firstDisclosedAt).toEqual(afterFirst!.firstDisclosedAt);
    expect(afterSecond!.lastDisclosedAt.getTime()).toBeGreaterThan(afterFirst!.lastDisclosedAt.getTime());

    // Bob's return is erased: analytics reads the tombstone, the warehouse has not yet.
    await t.database.sql`update returns set erased_at = now() where id = ${bobReturn}`;
    const erased = await syncFeed(t, analytics, { after: rectified.next });
    expect(erased.items).toEqual([{ id: expect.stringMatching(/^ps1_/), erased: true }]);
    const told = await recipientsToldOfErasure(t.database.db, bobId);
    expect(told.map((row) => [row.recipientId, row.returnId])).toEqual([['analytics', bobReturn]]);
    // Bob's disclosure to analytics was before the erasure; the tombstone disclosed nothing new.
    expect((await disclosuresForSubject(t.database.db, bobId)).map((row) => row.recipientId)).toEqual([
      'analytics',
    ]);

    await syncFeed(t, warehouse);
    expect((await recipientsToldOfErasure(t.database.db, bobId)).map((row) => row.recipientId)).toEqual([
      'analytics',
      'warehouse',
    ]);
    expect((await disclosuresForSubject(t.database.db, aliceId)).map((row) => row.recipientId)).toEqual([
      'analytics',
      'warehouse',
    ]);
    // The warehouse never received Bob's data, only the tombstone.
    expect((await disclosuresForSubject(t.database.db, bobId)).map((row) => row.recipientId)).toEqual([
      'analytics',
    ]);
    expect(await recipientsToldOfErasure(t.database.db, aliceId)).toEqual([]);
  });

  it('sends a tombstone for a return that retention deletes, and records who read it', async () => {
    const analytics = await t.token('backend', { clientId: 'analytics' });
    const merchantBound = await t.token('backend', { clientId: 'analytics', merchantId: 'merchant-a' });
    const returnId = await createReturn(t, randomCustomer());
    const subjectId = await subjectOf(returnId);
    const before = await syncFeed(t, analytics);
    const beforeBound = await syncFeed(t, merchantBound);
    await deleteReturns(t.database.db, [returnId]);
    const { items } = await syncFeed(t, analytics, { after: before.next });
    const tombstone = {
      id: createPseudonymKeys(t.config.pseudonymSecret)('analytics').pseudonym('return', returnId),
      erased: true,
    };
    expect(items).toEqual([tombstone]);
    expect((await syncFeed(t, merchantBound, { after: beforeBound.next })).items).toEqual([tombstone]);
    expect(await recipientsToldOfErasure(t.database.db, subjectId)).toMatchObject([
      { recipientId: 'analytics', returnId },
    ]);
  });

  it('keeps the token from choosing another recipient through the query', async () => {
    const analytics = await t.token('backend', { clientId: 'analytics' });
    const response = await t.app.inject({
      method: 'GET',
      url: '/v1/pseudonymized/returns?recipient=warehouse',
      headers: bearer(analytics),
    });
    // Unknown parameters are ignored; the items are those of the token's recipient (with a subject).
    expect(response.statusCode).toBe(200);
    const items = (response.json() as FeedResponse).items.filter((item) => item.erased === false);
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item.subject).toBeDefined();
  });
});
