import type { JWK } from 'jose';
import type postgres from 'postgres';
import type { Sql } from '../db/database';
import type { Signer } from '../signing/signing-key';
import {
  type AuditBundleHeader,
  bundleFormat,
  type ExportStatement,
  exportStatementType,
} from './audit-bundle';
import { rangeHashes } from './audit-log-store';
import { consistencyProof, requireLatestCheckpoint } from './audit-proofs';
import { loggedEventColumns } from './canonical-event';
import { logName } from './checkpoint';
import { rangeProofRanges } from './merkle';

/**
 * Streams of the audit log, read in keyset pages of a thousand rows: memory stays flat however many
 * events a range holds, each page is a short indexed query that starts answering at once (a cursor
 * over a million-row join may plan a full scan before its first row), and the HTTP layer pulls pages
 * only as the client reads. Building the JSON of a page is most of an export's cost and runs in
 * PostgreSQL, one core per backend: while one page is written, the next `pagesAhead` are built at
 * once on separate connections. Pages travel as the raw UTF-8 bytes PostgreSQL sent, never decoded
 * into strings on the way to the socket.
 */

const pageRows = 1000;
const pagesAhead = 2;

export interface EventFilter {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
}

/*
 * PostgreSQL writes each line's JSON: the stream only passes bytes on, which keeps export fast and
 * flat. row_to_json over the shared select list names the keys by its aliases and costs about half
 * of json_build_object (it writes compact JSON, keys in the same order).
 */
const listedEventRow = `(select l.position, ${loggedEventColumns})`;
const bundledEventRow = `(select ${loggedEventColumns}) as event
  cross join lateral (select l.position, encode(l.leaf_hash, 'hex') as "leafHash", event) as line`;

/**
 * The results of `tasks` in order, `depth` of them kept running while the consumer handles the one
 * yielded (a generator only runs when pulled, so they are started before it yields). A consumer that
 * stops early still waits for the ones under way, so no query outlives the stream and no failure goes
 * unhandled.
 */
async function* inOrder<T>(tasks: AsyncIterable<() => Promise<T>>, depth: number): AsyncGenerator<T> {
  const running: Promise<T>[] = [];
  try {
    for await (const task of tasks) {
      const result = task();
      // Observed at once (a rejection waiting its turn is not unhandled), still thrown when awaited.
      result.catch(() => {});
      running.push(result);
      if (running.length > depth) yield await (running.shift() as Promise<T>);
    }
    while (running.length > 0) yield await (running.shift() as Promise<T>);
  } finally {
    await Promise.allSettled(running);
  }
}

/** One text column of one row, as the bytes PostgreSQL sent (null for SQL NULL). */
async function rawText(query: postgres.PendingQuery<postgres.Row[]>): Promise<Buffer | null> {
  const [row] = await query.raw();
  return (row?.[0] as Buffer | null | undefined) ?? null;
}

/**
 * Events in write order (sequenced or not yet), one page of NDJSON lines (each ending in a newline)
 * at a time, each with its log position once it has one. Only the filters given appear in the SQL,
 * so every combination gets a plan of its own that walks the primary key. A cheap query finds where
 * each page ends, so the next pages are built while this one is written.
 */
export function listEvents(sql: Sql, filter: EventFilter): AsyncGenerator<Buffer> {
  const conditions = [
    filter.from === undefined ? undefined : sql`e.occurred_at >= ${filter.from}::timestamptz`,
    filter.to === undefined ? undefined : sql`e.occurred_at < ${filter.to}::timestamptz`,
    filter.actor === undefined ? undefined : sql`e.actor = ${filter.actor}`,
    filter.action === undefined ? undefined : sql`e.action = ${filter.action}`,
  ].filter((condition) => condition !== undefined);
  const after = (id: string) =>
    conditions.reduce((all, condition) => sql`${all} and ${condition}`, sql`e.id > ${id}::bigint`);

  async function* pages(): AsyncGenerator<() => Promise<Buffer | null>> {
    for (let afterId = '0'; ; ) {
      const [end] = await sql<{ id: string }[]>`
        select e.id::text as id from audit_events e where ${after(afterId)}
         order by e.id offset ${pageRows - 1} limit 1`;
      const from = afterId;
      // The last page (fewer rows than a page) is read up to what is there when it runs.
      const upTo = (column: string) => (end ? sql`and ${sql(column)} <= ${end.id}::bigint` : sql``);
      // Positions of the page's id range in one index range scan the planner can merge with the
      // events (rather than one lookup per event), or probe per event when a filter makes it sparse.
      yield () =>
        rawText(sql`
          select string_agg(row_to_json(line)::text, E'\n' order by e.id) || E'\n'
            from (select * from audit_events e where ${after(from)} ${upTo('e.id')}
                   order by e.id limit ${pageRows}) as e
            left join (select audit_event_id, position from audit_log_entries
                        where audit_event_id > ${from}::bigint ${upTo('audit_event_id')}) as l
              on l.audit_event_id = e.id
            cross join lateral ${sql.unsafe(listedEventRow)} as line`);
      if (!end) return;
      afterId = end.id;
    }
  }

  return (async function* () {
    for await (const page of inOrder(pages(), pagesAhead)) if (page) yield page;
  })();
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

export async function* eventsAsCsv(pages: AsyncIterable<Buffer>): AsyncGenerator<string> {
  yield `${csvColumns.join(',')}\r\n`;
  for await (const page of pages) {
    // JSON escapes newlines inside strings, so a page splits into its lines exactly.
    const lines = page.toString('utf8').trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
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
  chunks: AsyncGenerator<string | Buffer>;
}

/**
 * A bundle of every position between the first and the last event of the window (events of other
 * times that were positioned in between are included, so a removed event always shows as a gap),
 * the latest checkpoint, the range proof and, with `since`, a consistency proof from that tree size.
 */
export async function prepareExport(
  sql: Sql,
  signer: Signer,
  publicKeys: JWK[],
  options: { from?: string; to?: string; since?: number },
): Promise<PreparedExport> {
  const checkpoint = await requireLatestCheckpoint(sql);
  const range = await positionRange(sql, checkpoint.treeSize, options.from, options.to);
  const rangeProof =
    range.end > range.start ? await rangeHashes(sql, rangeProofRanges(range, checkpoint.treeSize)) : [];
  const consistency =
    options.since === undefined ? undefined : await consistencyProof(sql, options.since, checkpoint.treeSize);
  const statement: ExportStatement = {
    log: logName,
    exportedAt: new Date().toISOString(),
    treeSize: checkpoint.treeSize,
    rootHash: checkpoint.rootHash,
    range,
    window: { from: options.from ?? null, to: options.to ?? null },
  };
  const header: AuditBundleHeader = {
    format: bundleFormat,
    exportedAt: statement.exportedAt,
    checkpoint,
    jwks: { keys: publicKeys as Record<string, unknown>[] },
    range,
    rangeProof: rangeProof.map((hash) => hash.toString('hex')),
    consistency: consistency && {
      fromTreeSize: consistency.fromTreeSize,
      toTreeSize: consistency.toTreeSize,
      proof: consistency.proof,
    },
    exportStatement: await signer.sign(statement, exportStatementType),
  };

  // Positions are contiguous, so pages are plain position intervals, known before the first is read.
  async function* pages(): AsyncGenerator<() => Promise<Buffer | null>> {
    for (let from = range.start; from < range.end; from += pageRows) {
      const to = Math.min(range.end, from + pageRows);
      yield () =>
        rawText(sql`
          select string_agg(row_to_json(line)::text, ',' order by l.position)
            from audit_log_entries l join audit_events e on e.id = l.audit_event_id
            cross join lateral ${sql.unsafe(bundledEventRow)}
           where l.position >= ${from} and l.position < ${to}`);
    }
  }

  async function* chunks(): AsyncGenerator<string | Buffer> {
    yield `${JSON.stringify(header).slice(0, -1)},"events":[`;
    let separator = '';
    for await (const page of inOrder(pages(), pagesAhead)) {
      if (!page) continue;
      if (separator) yield separator;
      yield page;
      separator = ',';
    }
    yield ']}\n';
  }
  return { header, chunks: chunks() };
}
