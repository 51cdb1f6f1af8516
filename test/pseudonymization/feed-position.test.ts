import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../support/test-database';
import { createTestDatabase } from '../support/test-database';

/** A bare return row written in SQL: the trigger must stamp it whatever the write path. */
async function insertReturn(database: TestDatabase, subjectId: string): Promise<string> {
  const id = randomUUID();
  await database.sql`
    insert into returns (id, merchant_id, order_ref, subject_id, method, refund_method, delivered_at,
      notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country)
    values (${id}, 'merchant-a', ${`ORD-${id}`}, ${subjectId}, 'post_office', 'original_payment', now(), now(),
      current_date + 14, current_date + 14, '[]'::jsonb, 0, '75', 'FR')`;
  return id;
}

async function positionOf(database: TestDatabase, id: string) {
  const [row] =
    await database.sql`select feed_xid::text as xid, feed_seq::text as seq from returns where id = ${id}`;
  return { xid: BigInt(row!.xid), seq: BigInt(row!.seq) };
}

describe('returns feed position (trigger)', () => {
  let database: TestDatabase;
  let subjectId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const [subject] = await database.sql`
      insert into subjects (email_index, email_index_version) values (${randomBytes(32)}, 'v1') returning id`;
    subjectId = subject!.id as string;
  });

  it('stamps every insert with its transaction id and a growing sequence', async () => {
    const first = await positionOf(database, await insertReturn(database, subjectId));
    const second = await positionOf(database, await insertReturn(database, subjectId));
    expect(second.xid).toBeGreaterThan(first.xid);
    expect(second.seq).toBeGreaterThan(first.seq);
  });

  it('moves a changed return to the end, and leaves it when an update changes nothing', async () => {
    const id = await insertReturn(database, subjectId);
    const later = await insertReturn(database, subjectId);
    const before = await positionOf(database, id);
    await database.sql`update returns set status = status where id = ${id}`;
    expect(await positionOf(database, id)).toEqual(before);
    await database.sql`update returns set status = 'in_transit' where id = ${id}`;
    const after = await positionOf(database, id);
    expect(after.xid).toBeGreaterThan((await positionOf(database, later)).xid);
    expect(after.seq).toBeGreaterThan(before.seq);
  });

  it('leaves an erased return in place (a HOT update) and gives it one tombstone position', async () => {
    const id = await insertReturn(database, subjectId);
    const before = await positionOf(database, id);
    const hotUpdates = await database.sql.begin(async (tx) => {
      // The backend's counts not yet flushed: earlier transactions may be in them, hence a difference.
      const count = async () =>
        (await tx`select pg_stat_get_xact_tuples_hot_updated('returns'::regclass)::int as count`)[0]!
          .count as number;
      const earlier = await count();
      await tx`update returns set erased_at = now(), city_enc = null where id = ${id}`;
      return (await count()) - earlier;
    });
    expect(hotUpdates).toBe(1);
    expect(await positionOf(database, id)).toEqual(before);
    const tombstones = await database.sql`
      select feed_seq::text as seq from returns_feed_deletions where return_id = ${id}`;
    expect(tombstones).toHaveLength(1);
    expect(BigInt(tombstones[0]!.seq)).toBeGreaterThan(before.seq);
    // Any later change moves it as usual.
    await database.sql`update returns set status = 'closed' where id = ${id}`;
    expect((await positionOf(database, id)).seq).toBeGreaterThan(BigInt(tombstones[0]!.seq));
  });

  it('cannot be set by a writer: the trigger overrides explicit values', async () => {
    const id = await insertReturn(database, subjectId);
    await database.sql`update returns set feed_xid = '1'::xid8, feed_seq = 1, status = 'received' where id = ${id}`;
    const position = await positionOf(database, id);
    expect(position.xid).toBeGreaterThan(1n);
    expect(position.seq).toBeGreaterThan(1n);
  });

  it('has an index that serves the feed order', async () => {
    // The test table is tiny: forbid the sequential scan a planner would rightly prefer here.
    const plan = await database.sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      return tx`
        explain select id from returns where (feed_xid, feed_seq) > ('0'::xid8, 0::bigint)
        order by feed_xid, feed_seq limit 10`;
    });
    expect(plan.map((row) => row['QUERY PLAN']).join('\n')).toContain('returns_feed_position_idx');
  });
});
