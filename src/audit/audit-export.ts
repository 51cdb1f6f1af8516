import type { JWK } from 'jose';
import type { Sql } from '../db/database';
import { type AuditBundleHeader, bundleFormat } from './audit-bundle';
import { rangeHashes } from './audit-log-store';
import { consistencyProof, requireLatestCheckpoint } from './audit-proofs';
import { loggedEventJson } from './canonical-event';
import { rangeProofRanges } from './merkle';

/**
 * Streams of the audit log, read in keyset pages of a thousand rows: memory stays flat however many
 * events a range holds, each page is a short indexed query that starts answering at once (a cursor
 * over a million-row join may plan a full scan before its first row), and the HTTP layer pulls the
 * next page only as the client reads.
 */

const pageRows = 1000;

export interface EventFilter {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
}

// PostgreSQL writes each line's JSON: the stream only joins text, which keeps export fast and flat.
const listedEventJson = loggedEventJson([
  ['position', '(select l.position from audit_log_entries l where l.audit_event_id = e.id)'],
]);
const bundledEventJson = `json_build_object('position', l.position, 'leafHash', encode(l.leaf_hash, 'hex'), 'event', ${loggedEventJson()})`;

/**
 * Events in write order (sequenced or not yet), one page of JSON lines (joined by newlines) at a time,
 * each with its log position once it has one. Only the filters given appear in the SQL, so every
 * combination gets a plan of its own that walks the primary key.
 */
export async function* listEvents(sql: Sql, filter: EventFilter): AsyncGenerator<string> {
  const conditions = [
    filter.from === undefined ? undefined : sql`e.occurred_at >= ${filter.from}::timestamptz`,
    filter.to === undefined ? undefined : sql`e.occurred_at < ${filter.to}::timestamptz`,
    filter.actor === undefined ? undefined : sql`e.actor = ${filter.actor}`,
    filter.action === undefined ? undefined : sql`e.action = ${filter.action}`,
  ].filter((condition) => condition !== undefined);
  let afterId = '0';
  for (;;) {
    const where = conditions.reduce(
      (all, condition) => sql`${all} and ${condition}`,
      sql`e.id > ${afterId}::bigint`,
    );
    const [page] = await sql<{ rows: number; lastId: string | null; text: string | null }[]>`
      select count(*)::int as rows, max(id)::text as "lastId", string_agg(line, E'\n' order by id) as text
        from (select e.id, ${sql.unsafe(listedEventJson)}::text as line
                from audit_events e where ${where} order by e.id limit ${pageRows}) as page`;
    if (!page?.text || !page.lastId) return;
    yield page.text;
    if (page.rows < pageRows) return;
    afterId = page.lastId;
  }
}

const csvColumns = [
  'position',
  'eventId',
  'occurredAt',
  'actor',
  'actorScopes',
  'clientId',
  'action',
  'targetType',
  'targetId',
  'subjectRef',
  'purpose',
  'outcome',
  'requestId',
  'details',
] as const;

/** RFC 4180 quoting; a cell a spreadsheet would run as a formula is prefixed with a quote. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value)
    ? value.join(' ')
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export async function* eventsAsNdjson(pages: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const page of pages) yield `${page}\n`;
}

export async function* eventsAsCsv(pages: AsyncIterable<string>): AsyncGenerator<string> {
  yield `${csvColumns.join(',')}\r\n`;
  for await (const page of pages) {
    // JSON escapes newlines inside strings, so a page splits into its lines exactly.
    const events = page.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    yield events
      .map((event) => `${csvColumns.map((column) => csvCell(event[column])).join(',')}\r\n`)
      .join('');
  }
}

/** Positions [start, end) below the checkpoint whose events fall in the time window, gaps included. */
async function positionRange(sql: Sql, treeSize: number, from?: string, to?: string) {
  if (from === undefined && to === undefined) return { start: 0, end: treeSize };
  const [row] = await sql<{ first: string | null; last: string | null }[]>`
    select min(l.position)::text as first, max(l.position)::text as last
      from audit_log_entries l join audit_events e on e.id = l.audit_event_id
     where l.position < ${treeSize}
       and (${from ?? null}::timestamptz is null or e.occurred_at >= ${from ?? null}::timestamptz)
       and (${to ?? null}::timestamptz is null or e.occurred_at < ${to ?? null}::timestamptz)`;
  if (!row?.first || !row.last) return { start: 0, end: 0 };
  return { start: Number(row.first), end: Number(row.last) + 1 };
}

export interface PreparedExport {
  header: AuditBundleHeader;
  /** The bundle as JSON text, in chunks: the header fields, then the events. */
  chunks: AsyncGenerator<string>;
}

/**
 * A bundle of every position between the first and the last event of the window (events of other
 * times that were positioned in between are included, so a removed event always shows as a gap),
 * the latest checkpoint, the range proof and, with `since`, a consistency proof from that tree size.
 */
export async function prepareExport(
  sql: Sql,
  publicKeys: JWK[],
  options: { from?: string; to?: string; since?: number },
): Promise<PreparedExport> {
  const checkpoint = await requireLatestCheckpoint(sql);
  const range = await positionRange(sql, checkpoint.treeSize, options.from, options.to);
  const rangeProof =
    range.end > range.start ? await rangeHashes(sql, rangeProofRanges(range, checkpoint.treeSize)) : [];
  const consistency =
    options.since === undefined ? undefined : await consistencyProof(sql, options.since, checkpoint.treeSize);
  const header: AuditBundleHeader = {
    format: bundleFormat,
    exportedAt: new Date().toISOString(),
    checkpoint,
    jwks: { keys: publicKeys as Record<string, unknown>[] },
    range,
    rangeProof: rangeProof.map((hash) => hash.toString('hex')),
    consistency: consistency && {
      fromTreeSize: consistency.fromTreeSize,
      toTreeSize: consistency.toTreeSize,
      proof: consistency.proof,
    },
  };

  async function* chunks(): AsyncGenerator<string> {
    yield `${JSON.stringify(header).slice(0, -1)},"events":[`;
    // Positions are contiguous, so pages are plain position intervals.
    let separator = '';
    for (let from = range.start; from < range.end; from += pageRows) {
      const [page] = await sql<{ text: string | null }[]>`
        select string_agg(${sql.unsafe(bundledEventJson)}::text, ',' order by l.position) as text
          from audit_log_entries l join audit_events e on e.id = l.audit_event_id
         where l.position >= ${from} and l.position < ${Math.min(range.end, from + pageRows)}`;
      if (!page?.text) continue;
      yield `${separator}${page.text}`;
      separator = ',';
    }
    yield ']}\n';
  }
  return { header, chunks: chunks() };
}
