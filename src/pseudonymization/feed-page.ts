import { type AuditContext, type Executor, recordAuditEvent } from '../audit/record-audit-event';
import type { Database } from '../db/database';
import type { Recipient } from '../policies/recipients-policy';
import { recordFeedPageDisclosure } from './disclosure-register';
import { decodeCursor, encodeCursor, type FeedPosition, feedStart } from './feed-cursor';
import { type FeedPage, feedProjection } from './feed-item';
import { countFeedRows, type FeedSourceRow, readFeedRows } from './feed-reader';
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
    if (row.erased) tombstones.push({ returnId: row.returnId, subjectId: row.subjectId });
    else subjectIds.add(row.subjectId);
  }
  return {
    after: query.after,
    next: last ? { xid: BigInt(last.xid), seq: BigInt(last.seq) } : query.after,
    rows: rows.length,
    full: rows.length === query.limit,
    subjectIds: [...subjectIds],
    tombstones,
  };
}

function serialize(request: FeedPageRequest, rows: FeedSourceRow[], page: Omit<ReadPage, 'body'>): string {
  const feedPage: FeedPage = {
    items: rows.map(feedProjection(request.recipient, request.keys)),
    next: encodeCursor(page.next, request.keys.cursorKey),
    hasMore: page.full,
  };
  return JSON.stringify(feedPage);
}

/** The register entry and the audit event of a served page; the caller's transaction holds both. */
function recordPage(tx: Executor, request: FeedPageRequest, page: Omit<ReadPage, 'body'>): Promise<unknown> {
  return Promise.all([
    recordFeedPageDisclosure(tx, {
      recipientId: request.recipient.id,
      subjectIds: page.subjectIds,
      tombstones: page.tombstones,
    }),
    recordAuditEvent(tx, request.audit, {
      action: 'pseudonymized_feed.read',
      outcome: 'success',
      targetType: 'recipient',
      targetId: request.recipient.id,
      details: {
        count: page.rows,
        tombstones: page.tombstones.length,
        subjects: page.subjectIds.length,
        after: positionText(page.after),
        next: positionText(page.next),
      },
    }),
  ]);
}

/**
 * The pages of the feed. Each served page commits its register entry and audit event before it is
 * sent: a page the register does not know of was never served.
 *
 * A full sync reads page after page. While a full page travels to the recipient, the next one is read
 * and serialized ahead (one slot per recipient: memory stays flat). When the recipient asks
 * for it, it is served only if nothing moved in its positions since (countFeedRows): it is then exactly
 * what a read now would return. Otherwise, or for any other request, the page is read as usual.
 */
export function createFeedPages(db: Database) {
  const readAheads = new Map<string, { key: string; page: Promise<ReadPage | undefined> }>();
  const underWay = new Set<Promise<unknown>>();

  /** Reads, records and serializes a page in one transaction. */
  function readAndRecord(request: FeedPageRequest, query: PageQuery): Promise<ReadPage> {
    return db.transaction(async (tx) => {
      const rows = await readFeedRows(tx, { ...query, dates: request.recipient.generalisation.dates });
      const page = summarize(rows, query);
      const recorded = recordPage(tx, request, page);
      // Handled now, awaited below: a failure during the yield must not count as an unhandled rejection.
      recorded.catch(() => undefined);
      // Queries leave on a later tick: yield once so they are on the wire before the CPU-bound projection.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const body = serialize(request, rows, page);
      await recorded;
      return { ...page, body };
    });
  }

  /** Serves the page read ahead if it is the one asked for and nothing moved in it since. */
  async function serveReadAhead(request: FeedPageRequest, query: PageQuery): Promise<string | undefined> {
    const readAhead = readAheads.get(request.recipient.id);
    if (readAhead?.key !== queryKey(query)) return undefined;
    readAheads.delete(request.recipient.id);
    const page = await readAhead.page;
    if (!page?.full) return undefined;
    const recording = db.transaction(async (tx) => {
      const now = await countFeedRows(tx, {
        after: page.after,
        through: page.next,
        merchantId: query.merchantId,
      });
      if (now !== page.rows) return false;
      await recordPage(tx, request, page);
      return true;
    });
    // The page after it is read while this one is recorded, on another connection.
    startReadAhead(request, { ...query, after: page.next }, recording);
    return (await recording) ? page.body : undefined;
  }

  /**
   * Starts reading the page after a full one; serializing it (CPU-bound) waits until `served`, the
   * recording of the page being served, has settled and its response has left. A failed read-ahead
   * only means the next request reads.
   */
  function startReadAhead(request: FeedPageRequest, query: PageQuery, served?: Promise<unknown>) {
    const page = (async () => {
      const rows = await readFeedRows(db, { ...query, dates: request.recipient.generalisation.dates });
      await served?.catch(() => undefined);
      // The response is written in the microtasks that follow the recording; this runs after them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const read = summarize(rows, query);
      return { ...read, body: serialize(request, rows, read) };
    })().catch(() => undefined);
    underWay.add(page);
    page.then(() => underWay.delete(page));
    readAheads.set(request.recipient.id, { key: queryKey(query), page });
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
      const page = await readAndRecord(request, query);
      if (page.full) startReadAhead(request, { ...query, after: page.next });
      return page.body;
    },
    /** Waits for the reads under way, before the connection pool closes. */
    async close() {
      await Promise.all(underWay);
      readAheads.clear();
    },
  };
}
