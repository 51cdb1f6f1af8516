import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { DateGeneralisation, FeedField } from '../policies/recipients-policy';
import type { FeedPosition } from './feed-cursor';

/** Fields computed here, in JavaScript, because they are keyed pseudonyms (pseudonyms.ts). */
type PseudonymField = Extract<FeedField, 'subject' | 'orderRef'>;
/** Fields PostgreSQL writes as JSON itself: business columns, generalised where the policy says. */
type PlainField = Exclude<FeedField, PseudonymField>;
const isPseudonymField = (field: FeedField): field is PseudonymField =>
  field === 'subject' || field === 'orderRef';

/**
 * One feed row. Personal columns are never selected. `plain` is the recipient's plain fields as JSON
 * members without braces (`"status":"received","country":"FR"`), written by PostgreSQL, or `''` when
 * the recipient has none; an erased row (erased_at set, or deleted) is only a tombstone: `plain` is
 * null and only its ids and position are used.
 */
export interface FeedSourceRow {
  returnId: string;
  subjectId: string;
  merchantId: string;
  orderRef: string | null;
  erased: boolean;
  plain: string | null;
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
 * A value as JSON, escaped by PostgreSQL (to_json). These columns are NOT NULL; were one ever null,
 * its member would be left out of the item (concat_ws skips nulls), never sent malformed.
 */
const json = (expression: SQL) => sql`to_json(${expression})::text`;
const generalisedDate = (column: string, format: string) =>
  json(sql`to_char(${sql.raw(column)} at time zone 'Europe/Paris', ${format})`);

/**
 * The JSON value of each plain field, one line per field: a field reaches a recipient only through
 * its line here and only when its policy lists it. Items are sent as stored: the database refuses
 * stored items with any key but the four of `StoredItem` (constraint `returns_items_keys`).
 */
const plainFieldJson: Record<PlainField, (format: string) => SQL> = {
  merchantId: () => json(sql`r.merchant_id`),
  status: () => json(sql`r.status`),
  method: () => json(sql`r.method`),
  refundMethod: () => json(sql`r.refund_method`),
  postalArea: () => json(sql`r.postal_area`),
  country: () => json(sql`r.country`),
  deliveredAt: (format) => generalisedDate('r.delivered_at', format),
  notifiedAt: (format) => generalisedDate('r.notified_at', format),
  createdAt: (format) => generalisedDate('r.created_at', format),
  updatedAt: (format) => generalisedDate('r.updated_at', format),
  items: () => sql`r.items::text`,
  amounts: () =>
    sql`'{"totalCents":' || r.total_cents::text || ',"refundedCents":' || coalesce(r.refunded_cents::text, 'null') || '}'`,
};

/** The SQL writing a recipient's plain fields as JSON members, in the order its policy lists them. */
function plainMembers(fields: readonly FeedField[], dates: DateGeneralisation): SQL {
  const members = fields
    .filter((field): field is PlainField => !isPseudonymField(field))
    .map((field) => sql`'"${sql.raw(field)}":' || ${plainFieldJson[field](dateFormats[dates])}`);
  return members.length === 0 ? sql`''` : sql`concat_ws(',', ${sql.join(members, sql`, `)})`;
}

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
 *
 * PostgreSQL writes the plain fields as JSON text: one string column to decode instead of a dozen
 * typed ones and the items' JSON, and nothing to serialize again (the feed's cost was there).
 */
export async function readFeedRows(
  executor: Executor,
  options: {
    after: FeedPosition;
    limit: number;
    fields: readonly FeedField[];
    dates: DateGeneralisation;
    merchantId?: string;
  },
): Promise<FeedSourceRow[]> {
  const afterXid = options.after.xid.toString();
  const afterSeq = options.after.seq.toString();
  const merchant = (column: string) => merchantFilter(column, options.merchantId);
  const orderRef = options.fields.includes('orderRef') ? sql`r.order_ref` : sql`null::text`;
  return (await executor.execute(sql`
    select "returnId", "subjectId", "merchantId", "orderRef", erased, plain,
      feed_xid::text as xid, feed_seq::text as seq
    from (
      (select r.id::text as "returnId", r.subject_id::text as "subjectId", r.merchant_id as "merchantId",
        ${orderRef} as "orderRef", r.erased_at is not null as erased,
        case when r.erased_at is null then ${plainMembers(options.fields, options.dates)} end as plain,
        r.feed_xid, r.feed_seq
      from returns r
      where (r.feed_xid, r.feed_seq) > (${afterXid}::xid8, ${afterSeq}::bigint)
        and r.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
        ${merchant('r.merchant_id')}
      order by r.feed_xid, r.feed_seq
      limit ${options.limit})
      union all
      (select d.return_id::text, d.subject_id::text, d.merchant_id, null, true, null, d.feed_xid, d.feed_seq
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
 * How many rows sit in the positions (after, through] now, in both branches, as an SQL expression.
 * Every write to a return moves it to a new position above every position read so far, so a page read
 * earlier up to `through` is still exactly what a read now would return as long as this count has not
 * dropped.
 */
export function feedRowCount(options: {
  after: FeedPosition;
  through: FeedPosition;
  merchantId?: string;
}): SQL {
  const within = (alias: string) => sql`
    (${sql.raw(alias)}.feed_xid, ${sql.raw(alias)}.feed_seq)
      > (${options.after.xid.toString()}::xid8, ${options.after.seq.toString()}::bigint)
    and (${sql.raw(alias)}.feed_xid, ${sql.raw(alias)}.feed_seq)
      <= (${options.through.xid.toString()}::xid8, ${options.through.seq.toString()}::bigint)
    ${merchantFilter(`${alias}.merchant_id`, options.merchantId)}`;
  return sql`((select count(*) from returns r where ${within('r')})
    + (select count(*) from returns_feed_deletions d where ${within('d')}))`;
}
