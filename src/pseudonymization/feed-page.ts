import { type SQL, sql } from 'drizzle-orm';
import { type AuditContext, auditEventPerRow, auditWhoOf, type Executor } from '../audit/record-audit-event';
import type { Database } from '../db/database';
import type { Recipient } from '../policies/recipients-policy';
import { feedPageDisclosureCtes } from './disclosure-register';
import { decodeCursor, encodeCursor, type FeedPosition, feedStart } from './feed-cursor';
import { feedProjection } from './feed-item';
import { type FeedSourceRow, feedRowCount, isTombstone, noTombstoneSince, readFeedRows } from './feed-reader';
import type { RecipientKeys } from './pseudonyms';

export const defaultFeedLimit = 100;
export const maxFeedLimit = 1000;

export interface FeedPageRequest {
  recipient: Recipient;
  keys: RecipientKeys;
  after?: string;
  limit: number;
  merchantId?: string;
  audit: AuditContext;
}

/** A page read and serialized: what the register and the audit event need, and the response body. */
interface ReadPage {
  after: FeedPosition;
  next: FeedPosition;
  rows: number;
  full: boolean;
  /** The xmin of the read's snapshot (readFeedRows); undefined for an empty page. */
  readXmin: string | undefined;
  /** For a page read ahead: the rows its range held by the read's snapshot (feedRowCount's count). */
  rangeRows: string | undefined;
  subjectIds: string[];
  tombstones: { returnId: string; subjectId: string }[];
  /** The FeedPage as JSON (feed-item.ts documents its shape). */
  body: string;
}

/** What one page is read with; two reads with equal keys return the same rows if nothing moved. */
interface PageQuery {
  after: FeedPosition;
  limit: number;
  merchantId?: string;
}

const positionText = (position: FeedPosition) => `${position.xid}:${position.seq}`;
const queryKey = (query: PageQuery) =>
  `${positionText(query.after)}/${query.limit}/${query.merchantId ?? ''}`;

function summarize(rows: FeedSourceRow[], query: PageQuery): Omit<ReadPage, 'body'> {
  const last = rows.at(-1);
  const subjectIds = new Set<string>();
  const tombstones: ReadPage['tombstones'] = [];
  for (const row of rows) {
    if (isTombstone(row)) tombstones.push({ returnId: row.returnId, subjectId: row.subjectId });
    // A restricted return discloses nothing of its subject: only its pseudonym and the flag.
    else if (!row.restricted) subjectIds.add(row.subjectId);
  }
  return {
    after: query.after,
    next: last ? { xid: BigInt(last.xid), seq: BigInt(last.seq) } : query.after,
    rows: rows.length,
    full: rows.length === query.limit,
    readXmin: rows[0]?.readXmin,
    rangeRows: rows[0]?.rangeRows,
    subjectIds: [...subjectIds],
    tombstones,
  };
}

/** The FeedPage (feed-item.ts) as JSON, assembled from the items' JSON. */
function serialize(request: FeedPageRequest, rows: FeedSourceRow[], page: Omit<ReadPage, 'body'>): string {
  const items = rows.map(feedProjection(request.recipient, request.keys)).join(',');
  const next = JSON.stringify(encodeCursor(page.next, request.keys.cursorKey));
  return `{"items":[${items}],"next":${next},"hasMore":${page.full}}`;
}

/**
 * Records a served page: its register entries and its audit event, in one statement (atomic without
 * a transaction, one round trip), and only if `served` (an SQL boolean) holds. Answers whether it
 * recorded.
 */
async function recordPage(
  executor: Executor,
  request: FeedPageRequest,
  page: Omit<ReadPage, 'body'>,
  served: SQL = sql`true`,
): Promise<boolean> {
  const disclosure = {
    recipientId: request.recipient.id,
    subjectIds: page.subjectIds,
    tombstones: page.tombstones,
  };
  const details = {
    count: page.rows,
    tombstones: page.tombstones.length,
    subjects: page.subjectIds.length,
    after: positionText(page.after),
    next: positionText(page.next),
  };
  const audited = auditEventPerRow(
    auditWhoOf(request.audit),
    {
      action: 'pseudonymized_feed.read',
      targetType: 'recipient',
      targetId: sql`${request.recipient.id}`,
      subjectRef: sql`null`,
      outcome: sql`'success'`,
      details: sql`${JSON.stringify(details)}::jsonb`,
    },
    sql`from page where served`,
  );
  const [row] = (await executor.execute(sql`
    with page as (select ${served} as served),
    ${feedPageDisclosureCtes(disclosure, sql`(select served from page)`)},
    audited as (${audited})
    select served from page`)) as unknown as { served: boolean }[];
  return row?.served === true;
}

/** How many pages past the one served are read ahead for a recipient in a full sync. */
const readAheadDepth = 2;

/** A page being read ahead: `read` is set once it is read and serialized (never, if that failed). */
interface ReadAhead {
  query: PageQuery;
  key: string;
  page: Promise<ReadPage | undefined>;
  read?: ReadPage;
}

/** A recipient's pages read ahead, in feed order; `newest` stays after it is served, to go on from. */
interface ReadAheadChain {
  pages: ReadAhead[];
  newest?: ReadAhead;
}

/**
 * The pages of the feed. Each served page commits its register entry and audit event before it is
 * sent: a page the register does not know of was never served.
 *
 * A full sync reads page after page. While a full page travels to the recipient, the next ones are
 * read and serialized ahead, up to `readAheadDepth` pages per recipient (memory stays flat), so the
 * database always has the next read under way. When the recipient asks for a page read ahead, it is
 * served only if nothing moved in its positions (feedRowCount, against the count the read took) and nothing was erased
 * (noTombstoneSince) since: it is then exactly what a read now would return. Otherwise, or for any
 * other request, the page is read as usual.
 */
export function createFeedPages(db: Database) {
  const readAheads = new Map<string, ReadAheadChain>();
  const underWay = new Set<Promise<unknown>>();

  /** Reads and serializes a page. */
  async function readPage(request: FeedPageRequest, query: PageQuery, countRange = false): Promise<ReadPage> {
    const rows = await readFeedRows(db, { ...query, fields: request.recipient.fields, countRange });
    // Lets the responses and queries waiting on this tick leave before the CPU-bound projection.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const page = summarize(rows, query);
    return { ...page, body: serialize(request, rows, page) };
  }

  /** Serves the page read ahead if it is the one asked for and nothing moved in it since. */
  async function serveReadAhead(request: FeedPageRequest, query: PageQuery): Promise<string | undefined> {
    const chain = readAheads.get(request.recipient.id);
    if (chain?.pages[0]?.key !== queryKey(query)) return undefined;
    const readAhead = chain.pages.shift()!;
    extendReadAhead(request, chain);
    const page = await readAhead.page;
    if (!page?.full || page.readXmin === undefined || page.rangeRows === undefined) return undefined;
    const unmoved = sql`${feedRowCount({ after: page.after, through: page.next, merchantId: query.merchantId })} = ${page.rangeRows}::bigint
      and ${noTombstoneSince(page.readXmin)}`;
    return (await recordPage(db, request, page, unmoved)) ? page.body : undefined;
  }

  /** Starts reading the page `query` asks for at the end of `chain`. A failed read only means the request reads. */
  function startReadAhead(request: FeedPageRequest, chain: ReadAheadChain, query: PageQuery) {
    const readAhead: ReadAhead = { query, key: queryKey(query), page: Promise.resolve(undefined) };
    readAhead.page = (async () => {
      readAhead.read = await readPage(request, query, true);
      extendReadAhead(request, chain);
      return readAhead.read;
    })().catch(() => undefined);
    underWay.add(readAhead.page);
    readAhead.page.then(() => underWay.delete(readAhead.page));
    chain.pages.push(readAhead);
    chain.newest = readAhead;
  }

  /** Reads the page after the newest of the chain once that one is read and full, while the chain is short. */
  function extendReadAhead(request: FeedPageRequest, chain: ReadAheadChain) {
    const newest = chain.newest?.read;
    if (!newest?.full || chain.pages.length >= readAheadDepth) return;
    if (readAheads.get(request.recipient.id) !== chain) return;
    startReadAhead(request, chain, { ...chain.newest!.query, after: newest.next });
  }

  return {
    /** One page for one recipient, as the JSON body of GET /v1/pseudonymized/returns. */
    async read(request: FeedPageRequest): Promise<string> {
      const query: PageQuery = {
        after: request.after === undefined ? feedStart : decodeCursor(request.after, request.keys.cursorKey),
        limit: Math.min(request.limit, maxFeedLimit),
        merchantId: request.merchantId,
      };
      const served = await serveReadAhead(request, query);
      if (served !== undefined) return served;
      readAheads.delete(request.recipient.id);
      const page = await readPage(request, query);
      await recordPage(db, request, page);
      if (page.full) {
        const chain: ReadAheadChain = { pages: [] };
        readAheads.set(request.recipient.id, chain);
        startReadAhead(request, chain, { ...query, after: page.next });
      }
      return page.body;
    },
    /** Waits for the reads under way, before the connection pool closes. */
    async close() {
      readAheads.clear(); // no chain grows any more
      await Promise.all(underWay);
    },
  };
}
