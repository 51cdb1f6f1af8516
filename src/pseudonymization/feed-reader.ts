import { sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { DateGeneralisation } from '../policies/recipients-policy';
import type { StoredItem } from '../returns/returns.schema';
import type { FeedPosition } from './feed-cursor';

/**
 * The business columns of a return the feed may project; personal columns are never selected. An
 * erased row (erased_at set, or deleted) is only a tombstone: just its ids and position are used.
 */
export interface FeedSourceRow {
  returnId: string;
  subjectId: string;
  orderRef: string;
  merchantId: string;
  status: string;
  method: string;
  refundMethod: string;
  postalArea: string;
  country: string;
  deliveredAt: string;
  notifiedAt: string;
  createdAt: string;
  updatedAt: string;
  items: StoredItem[];
  totalCents: number;
  refundedCents: number | null;
  erased: boolean;
  xid: string;
  seq: string;
}

/** to_char formats of each date generalisation; `IYYY-"W"IW` is the ISO 8601 week (2026-W09). */
const dateFormats: Record<DateGeneralisation, string> = {
  day: 'YYYY-MM-DD',
  week: 'IYYY-"W"IW',
  month: 'YYYY-MM',
};

/** Restricts a branch to one merchant's returns when the caller's token is bound to a merchant. */
const merchantFilter = (column: string, merchantId: string | undefined) =>
  merchantId === undefined ? sql`` : sql`and ${sql.raw(column)} = ${merchantId}`;

/**
 * The next rows after `after` in commit order. Every write to a return stamps it with its transaction
 * id and a sequence number (trigger `returns_feed_position`); a deletion leaves the same kind of
 * position in `returns_feed_deletions`. Only positions whose transaction id is below the snapshot's
 * xmin are read: every transaction under xmin has ended, so none can still commit a row behind the
 * cursor. A slow transaction holds the feed back until it ends, then its rows come after the cursor;
 * nothing is skipped. Both branches ride their (feed_xid, feed_seq) index and stop at `limit`.
 */
export async function readFeedRows(
  executor: Executor,
  options: { after: FeedPosition; limit: number; dates: DateGeneralisation; merchantId?: string },
): Promise<FeedSourceRow[]> {
  const format = dateFormats[options.dates];
  const afterXid = options.after.xid.toString();
  const afterSeq = options.after.seq.toString();
  const merchant = (column: string) => merchantFilter(column, options.merchantId);
  return (await executor.execute(sql`
    select "returnId", "subjectId", "orderRef", "merchantId", status, method, "refundMethod", "postalArea",
      country, "deliveredAt", "notifiedAt", "createdAt", "updatedAt", items, "totalCents", "refundedCents",
      erased, feed_xid::text as xid, feed_seq::text as seq
    from (
      (select r.id::text as "returnId", r.subject_id::text as "subjectId", r.order_ref as "orderRef",
        r.merchant_id as "merchantId", r.status, r.method, r.refund_method as "refundMethod",
        r.postal_area as "postalArea", r.country,
        to_char(r.delivered_at at time zone 'Europe/Paris', ${format}) as "deliveredAt",
        to_char(r.notified_at at time zone 'Europe/Paris', ${format}) as "notifiedAt",
        to_char(r.created_at at time zone 'Europe/Paris', ${format}) as "createdAt",
        to_char(r.updated_at at time zone 'Europe/Paris', ${format}) as "updatedAt",
        r.items, r.total_cents::float8 as "totalCents", r.refunded_cents::float8 as "refundedCents",
        r.erased_at is not null as erased, r.feed_xid, r.feed_seq
      from returns r
      where (r.feed_xid, r.feed_seq) > (${afterXid}::xid8, ${afterSeq}::bigint)
        and r.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
        ${merchant('r.merchant_id')}
      order by r.feed_xid, r.feed_seq
      limit ${options.limit})
      union all
      (select d.return_id::text, d.subject_id::text, null, d.merchant_id, null, null, null, null, null, null,
        null, null, null, null::jsonb, null::float8, null::float8, true, d.feed_xid, d.feed_seq
      from returns_feed_deletions d
      where (d.feed_xid, d.feed_seq) > (${afterXid}::xid8, ${afterSeq}::bigint)
        and d.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
        ${merchant('d.merchant_id')}
      order by d.feed_xid, d.feed_seq
      limit ${options.limit})
    ) as page
    order by feed_xid, feed_seq
    limit ${options.limit}`)) as unknown as FeedSourceRow[];
}

/**
 * How many rows sit in the positions (after, through] now, in both branches. Every write to a return
 * moves it to a new position above every position read so far, so a page read earlier up to `through`
 * is still exactly what a read now would return as long as this count has not dropped.
 */
export async function countFeedRows(
  executor: Executor,
  options: { after: FeedPosition; through: FeedPosition; merchantId?: string },
): Promise<number> {
  const within = (alias: string) => sql`
    (${sql.raw(alias)}.feed_xid, ${sql.raw(alias)}.feed_seq)
      > (${options.after.xid.toString()}::xid8, ${options.after.seq.toString()}::bigint)
    and (${sql.raw(alias)}.feed_xid, ${sql.raw(alias)}.feed_seq)
      <= (${options.through.xid.toString()}::xid8, ${options.through.seq.toString()}::bigint)
    ${merchantFilter(`${alias}.merchant_id`, options.merchantId)}`;
  const [row] = (await executor.execute(sql`
    select (select count(*) from returns r where ${within('r')})
      + (select count(*) from returns_feed_deletions d where ${within('d')}) as count`)) as unknown as {
    count: string;
  }[];
  return Number(row?.count);
}
