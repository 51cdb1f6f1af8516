import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveAppConfig } from '../../src/config/app-config';
import { eraseReturnsContactData } from '../../src/erasure/erase';
import { loadPolicies } from '../../src/policies/load-policies';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * A retention sweep erases returns scattered over the tables: a page rarely holds two rows of one
 * batch. Each row the erasure nulls must stay on its page (a HOT update: no index entry, one page
 * written), or the sweep writes every index of the table once more per row.
 */
describe('erasure in place', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  /**
   * `count` returns of one subject each, written in one statement so their rows fill pages back to
   * back; each return has three events without a location and one with (random bytes stand in for
   * the ciphertext: the erasure never decrypts).
   */
  async function seedPackedReturns(count: number): Promise<string[]> {
    const rows = await database.sql<{ id: string }[]>`
      with subjects_made as (
        insert into subjects (email_index, email_index_version)
        select decode(repeat(md5(random()::text), 2), 'hex'), 'v1' from generate_series(1, ${count}) returning id
      ), returns_made as (
        insert into returns (id, merchant_id, order_ref, subject_id, method, refund_method, delivered_at,
          notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area, country,
          customer_name_enc, city_enc, status)
        select gen_random_uuid(), 'merchant-a', 'ORD-in-place-' || id, id, 'post_office',
          'original_payment', now(), now(), current_date, current_date, '[]'::jsonb, 0, '75', 'FR',
          decode(repeat(md5(random()::text), 4), 'hex'), decode(repeat(md5(random()::text), 3), 'hex'), 'closed'
        from subjects_made returning id
      ), events_made as (
        insert into return_events (id, return_id, type, origin, occurred_at, dedupe_key, location_enc)
        select gen_random_uuid(), r.id, 'in_transit', 'carrier', now(), 'in-place-' || r.id || '-' || n,
          case when n = 1 then decode(repeat(md5(random()::text), 3), 'hex') end
        from returns_made r cross join generate_series(1, 4) as n
        returning 1
      )
      select id from returns_made`;
    return rows.map((row) => row.id);
  }

  it('nulls one return in eight of packed pages without moving a row: returns and events', async () => {
    const ids = await seedPackedReturns(400);
    const erased = ids.filter((_, index) => index % 8 === 0);
    const policies = loadPolicies(resolveAppConfig(testEnvironment()).policiesDir);
    const counts = await database.db.transaction(async (tx) => {
      const updates = async () => {
        const [row] = (await tx.execute(sql`
          select pg_stat_get_xact_tuples_updated('returns'::regclass)::int as returns,
            pg_stat_get_xact_tuples_hot_updated('returns'::regclass)::int as "returnsHot",
            pg_stat_get_xact_tuples_updated('return_events'::regclass)::int as events,
            pg_stat_get_xact_tuples_hot_updated('return_events'::regclass)::int as "eventsHot"`)) as unknown as {
          returns: number;
          returnsHot: number;
          events: number;
          eventsHot: number;
        }[];
        return row!;
      };
      // The backend's counts not yet flushed may include earlier transactions: hence a difference.
      const before = await updates();
      const result = await eraseReturnsContactData(tx, erased, {
        audit: { purpose: 'retention' },
        policies,
        now: new Date(),
        origin: 'retention',
      });
      expect(result.erased).toHaveLength(erased.length);
      const after = await updates();
      return {
        returns: after.returns - before.returns,
        returnsHot: after.returnsHot - before.returnsHot,
        events: after.events - before.events,
        eventsHot: after.eventsHot - before.eventsHot,
      };
    });
    expect(counts).toEqual({
      returns: erased.length,
      returnsHot: erased.length,
      events: erased.length,
      eventsHot: erased.length,
    });
  });
});
