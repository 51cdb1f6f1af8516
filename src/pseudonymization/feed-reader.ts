import { sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { DateGeneralisation } from '../policies/recipients-policy';
import type { StoredItem } from '../returns/returns.schema';
import type { FeedPosition } from './feed-cursor';

/** The business columns of a return the feed may project; personal columns are never selected. */
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

/**
 * The next rows after `after` in commit order. Every write to a return stamps it with its transaction
 * id and a sequence number (trigger `returns_feed_position`). Only rows whose transaction id is below
 * the snapshot's xmin are read: every transaction under xmin has ended, so no transaction can still
 * commit a row behind the cursor. A slow transaction holds the feed back until it ends, then its rows
 * come after the cursor; nothing is skipped. Reads ride the (feed_xid, feed_seq) index.
 */
export async function readFeedRows(
  executor: Executor,
  options: { after: FeedPosition; limit: number; dates: DateGeneralisation; merchantId?: string },
): Promise<FeedSourceRow[]> {
  const format = dateFormats[options.dates];
  return (await executor.execute(sql`
    select r.id::text as "returnId", r.subject_id::text as "subjectId", r.order_ref as "orderRef",
      r.merchant_id as "merchantId", r.status, r.method, r.refund_method as "refundMethod",
      r.postal_area as "postalArea", r.country,
      to_char(r.delivered_at at time zone 'Europe/Paris', ${format}) as "deliveredAt",
      to_char(r.notified_at at time zone 'Europe/Paris', ${format}) as "notifiedAt",
      to_char(r.created_at at time zone 'Europe/Paris', ${format}) as "createdAt",
      to_char(r.updated_at at time zone 'Europe/Paris', ${format}) as "updatedAt",
      r.items, r.total_cents::float8 as "totalCents", r.refunded_cents::float8 as "refundedCents",
      r.erased_at is not null as erased,
      r.feed_xid::text as xid, r.feed_seq::text as seq
    from returns r
    where (r.feed_xid, r.feed_seq) > (${options.after.xid.toString()}::xid8, ${options.after.seq.toString()}::bigint)
      and r.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
      ${options.merchantId === undefined ? sql`` : sql`and r.merchant_id = ${options.merchantId}`}
    order by r.feed_xid, r.feed_seq
    limit ${options.limit}`)) as unknown as FeedSourceRow[];
}
