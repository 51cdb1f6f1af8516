import { SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import type { FeedField } from '../policies/recipients-policy';
import type { FeedPosition } from './feed-cursor';

/** Fields computed here, in JavaScript, because they are keyed pseudonyms (pseudonyms.ts). */
type PseudonymField = Extract<FeedField, 'subject' | 'orderRef'>;
/** Dates, generalised in JavaScript (generalised-dates.ts) from the hour PostgreSQL sends. */
type DateField = Extract<FeedField, 'deliveredAt' | 'notifiedAt' | 'createdAt' | 'updatedAt'>;
/** Fields PostgreSQL writes as JSON itself: business columns. */
type JsonField = Exclude<FeedField, PseudonymField | DateField>;
const dateColumns: Record<DateField, string> = {
  deliveredAt: 'r.delivered_at',
  notifiedAt: 'r.notified_at',
  createdAt: 'r.created_at',
  updatedAt: 'r.updated_at',
};
export const isDateField = (field: FeedField): field is DateField => Object.hasOwn(dateColumns, field);
const isJsonField = (field: FeedField): field is JsonField =>
  field !== 'subject' && field !== 'orderRef' && !isDateField(field);

/**
 * One feed row. Personal columns are never selected. `plain` is the recipient's business fields as
 * JSON members without braces (`"status":"received","country":"FR"`), written by PostgreSQL, or `''`
 * when the recipient has none; each date field of the recipient is the hour since the epoch of its
 * instant (floor(epoch / 3600)). An erased or deleted return is only a tombstone: `plain` is null
 * and only its ids and position are used.
 */
export type FeedSourceRow = Partial<Record<DateField, number>> & {
  returnId: string;
  subjectId: string;
  /** Merchant and order reference, read only for a recipient that gets the order pseudonym. */
  merchantId: string | null;
  orderRef: string | null;
  plain: string | null;
  /**
   * The subject restricted processing (Art. 18), or an erasure request kept the return for legal
   * claims: the recipient gets only the return's pseudonym and the flag, and must stop processing it
   * until it re-appears unrestricted (Art. 19).
   */
  restricted: boolean;
  xid: string;
  seq: string;
  /** The xmin of the snapshot the page was read with, the same on every row (feed-page.ts). */
  readXmin: string;
  /**
   * With `countRange`: the rows in the page's positions (after, its last] as feedRowCount counts them
   * (erased returns, which the read skips, included), by the read's own snapshot; the same on every row.
   */
  rangeRows?: string;
};

/** An erased or deleted return: only its tombstone is sent. */
export const isTombstone = (row: FeedSourceRow) => row.plain === null;

/**
 * The pieces of one JSON value, to be joined by concat(): SQL expressions and literal text. A value
 * comes whole from to_json (escaped by PostgreSQL) or from JSON already stored; a code is written
 * between quotes as it is, since it cannot hold a character JSON escapes (constraint
 * `returns_feed_codes`). concat() skips a null piece, so every piece here stays well-formed JSON even
 * then: a quoted null is "", the others fall back to null.
 */
type JsonPiece = SQL | string;
const escaped = (expression: SQL): JsonPiece[] => [sql`coalesce(to_json(${expression})::text, 'null')`];
const quoted = (expression: SQL): JsonPiece[] => ['"', expression, '"'];

/**
 * The JSON value of each business field, one line per field: a field reaches a recipient only through
 * its line here and only when its policy lists it. Items are sent as stored: the database refuses
 * stored items with any key but the four of `StoredItem` (constraint `returns_items_keys`).
 */
const plainFieldJson: Record<JsonField, () => JsonPiece[]> = {
  merchantId: () => escaped(sql`r.merchant_id`),
  status: () => quoted(sql`r.status`),
  method: () => quoted(sql`r.method`),
  refundMethod: () => quoted(sql`r.refund_method`),
  postalArea: () => quoted(sql`r.postal_area`),
  country: () => quoted(sql`r.country`),
  items: () => [sql`coalesce(r.items::text, 'null')`],
  amounts: () => [
    '{"totalCents":',
    sql`coalesce(r.total_cents::text, 'null')`,
    ',"refundedCents":',
    sql`coalesce(r.refunded_cents::text, 'null')`,
    '}',
  ],
};

/**
 * The SQL writing a recipient's plain fields as JSON members, in the order its policy lists them: one
 * concat() of every piece, adjacent literals merged (PostgreSQL writing the JSON cost most in to_json
 * and in the many concatenations of the pieces).
 */
function plainMembers(fields: readonly FeedField[]): SQL {
  const pieces = fields
    .filter(isJsonField)
    .flatMap((field, i): JsonPiece[] => [`${i === 0 ? '' : ','}"${field}":`, ...plainFieldJson[field]()]);
  const merged: JsonPiece[] = [];
  for (const piece of pieces) {
    const last = merged.at(-1);
    if (typeof piece === 'string' && typeof last === 'string') merged[merged.length - 1] = last + piece;
    else merged.push(piece);
  }
  if (merged.length === 0) return sql`''`;
  // Literal pieces (field names, punctuation) travel as text parameters: concat() cannot type a bare one.
  const args = merged.map((piece) => (typeof piece === 'string' ? sql`${piece}::text` : piece));
  return sql`concat(${sql.join(args, sql`, `)})`;
}

/** Restricts a branch to one merchant's returns when the caller's token is bound to a merchant. */
const merchantFilter = (column: string, merchantId: string | undefined) =>
  merchantId === undefined ? sql`` : sql`and ${sql.raw(column)} = ${merchantId}`;

/**
 * The feed position of the rows of `alias` (returns or deletions) compared with `position`: a cursor's,
 * or an SQL row expression (xid8, bigint).
 */
const comparePosition = (alias: string, operator: '>' | '<=', position: FeedPosition | SQL) => {
  const other =
    position instanceof SQL
      ? position
      : sql`(${position.xid.toString()}::xid8, ${position.seq.toString()}::bigint)`;
  return sql`(${sql.raw(alias)}.feed_xid, ${sql.raw(alias)}.feed_seq) ${sql.raw(operator)} ${other}`;
};

/**
 * The next rows after `after` in commit order. Every write to a return stamps it with its transaction
 * id and a sequence number (trigger `returns_feed_position_*`). An erasure or a deletion leaves the
 * same kind of position in `returns_feed_deletions`, the return's tombstone; an erased return stays
 * where it stood, unread (migration returns-erased-in-place). Only positions whose transaction id is
 * below the snapshot's xmin are read: every transaction under xmin has ended, so none can still
 * commit a row behind the cursor. A slow transaction holds the feed back until it ends, then its rows
 * come after the cursor; nothing is skipped. Both branches ride their (feed_xid, feed_seq) index and stop at `limit`.
 *
 * PostgreSQL writes the business fields as JSON text: one string column to decode instead of a
 * dozen typed ones and the items' JSON, and nothing to serialize again. Dates come as whole hours,
 * cheaper to send than to format there (generalised-dates.ts).
 */
export async function readFeedRows(
  executor: Executor,
  options: {
    after: FeedPosition;
    limit: number;
    fields: readonly FeedField[];
    merchantId?: string;
    /** Also count the rows of the page's range by the read's snapshot (`rangeRows`), for read-ahead. */
    countRange?: boolean;
  },
): Promise<FeedSourceRow[]> {
  const merchant = (column: string) => merchantFilter(column, options.merchantId);
  const withOrder = options.fields.includes('orderRef');
  const [merchantId, orderRef] = withOrder
    ? [sql`r.merchant_id`, sql`r.order_ref`]
    : [sql`null::text`, sql`null::text`];
  const dates = options.fields.filter(isDateField);
  // The hour of each date the recipient gets: every instant of one UTC hour is on one Paris date.
  const hours = (branch: 'returns' | 'deletions') =>
    sql.join(
      dates.map((field) =>
        branch === 'returns'
          ? sql`, floor(date_part('epoch', ${sql.raw(dateColumns[field])}) / 3600)::int4 as ${sql.identifier(field)}`
          : sql`, null::int4`,
      ),
    );
  const dateNames = sql.join(dates.map((field) => sql`, ${sql.identifier(field)}`));
  // The count rides the read's statement, hence its snapshot: counted apart, a return leaving the
  // range in between would go unseen.
  const rangeRows = options.countRange
    ? sql`, ${feedRowCount({
        after: options.after,
        through: sql`(select feed_xid, feed_seq from page order by feed_xid desc, feed_seq desc limit 1)`,
        merchantId: options.merchantId,
      })}::text as "rangeRows"`
    : sql``;
  return (await executor.execute(sql`
    with page as (select * from (
      (select r.id::text as "returnId", r.subject_id::text as "subjectId", ${merchantId} as "merchantId",
        ${orderRef} as "orderRef",
        ${plainMembers(options.fields)} as plain,
        (r.restricted_at is not null or r.kept_for_claims_at is not null) as restricted,
        r.feed_xid, r.feed_seq ${hours('returns')}
      from returns r
      where ${comparePosition('r', '>', options.after)}
        and r.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
        and r.erased_at is null
        ${merchant('r.merchant_id')}
      order by r.feed_xid, r.feed_seq
      limit ${options.limit})
      union all
      (select d.return_id::text, d.subject_id::text, null, null, null, false, d.feed_xid, d.feed_seq
        ${hours('deletions')}
      from returns_feed_deletions d
      where ${comparePosition('d', '>', options.after)}
        and d.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
        ${merchant('d.merchant_id')}
      order by d.feed_xid, d.feed_seq
      limit ${options.limit})
    ) as branches
    order by feed_xid, feed_seq
    limit ${options.limit})
    select "returnId", "subjectId", "merchantId", "orderRef", plain, restricted,
      feed_xid::text as xid, feed_seq::text as seq ${dateNames},
      (select pg_snapshot_xmin(pg_current_snapshot()))::text as "readXmin" ${rangeRows}
    from page
    order by feed_xid, feed_seq`)) as unknown as FeedSourceRow[];
}

/**
 * True (an SQL expression) while no tombstone was written by a transaction that a read with snapshot
 * xmin `readXmin` did not see: such a transaction has an id at or above that xmin. An erasure leaves
 * its return in place, so this is how a page read earlier learns of it. Conservative: an erasure
 * anywhere in the feed, committed around the read, makes it false.
 */
export function noTombstoneSince(readXmin: string): SQL {
  return sql`not exists (select 1 from returns_feed_deletions d where d.feed_xid >= ${readXmin}::xid8)`;
}

/**
 * How many rows sit in the positions (after, through] now, in both branches, as an SQL expression
 * (an index-only count: erased returns, which a read skips, are counted too). Every write to a return
 * but an erasure moves it to a new position above every position read so far, so a page read earlier
 * up to `through` is still exactly what a read now would return as long as this count equals the one
 * the read's own statement took (`countRange`) and no return was erased since (noTombstoneSince).
 * Compared with the page's row count instead, an erased return in the range would make up for one
 * that left it.
 */
export function feedRowCount(options: {
  after: FeedPosition;
  through: FeedPosition | SQL;
  merchantId?: string;
}): SQL {
  const within = (alias: string) => sql`
    ${comparePosition(alias, '>', options.after)} and ${comparePosition(alias, '<=', options.through)}
    ${merchantFilter(`${alias}.merchant_id`, options.merchantId)}`;
  return sql`((select count(*) from returns r where ${within('r')})
    + (select count(*) from returns_feed_deletions d where ${within('d')}))`;
}
