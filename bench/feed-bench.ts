import { Worker } from 'node:worker_threads';
import { mintToken } from '../src/auth/mint-token';
import type { DatabaseHandle } from '../src/db/database';
import { applyMigrations } from '../src/db/migrations';
import { loadPolicies } from '../src/policies/load-policies';
import { foldDisclosureLog } from '../src/pseudonymization/disclosure-register';
import { benchConfig, openBenchDatabase } from './bench-database';
import { listenInProcess } from './bench-server';

/*
 * `npm run bench -- feed [--returns N] [--page N]`: a full sync of N returns by one recipient through
 * the real HTTP endpoint, against a raw keyset SELECT of the same rows and columns in the same run.
 * Uses BENCH_DATABASE_URL when set (a database it may fill), else a throw-away embedded PostgreSQL.
 */

interface Options {
  returns: number;
  page: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { returns: 1_000_000, page: 1000 };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    if (args[i] === '--returns') options.returns = value;
    else if (args[i] === '--page') options.page = value;
    else throw new Error(`unknown option ${args[i]} (use --returns N, --page N)`);
  }
  return options;
}

/**
 * Fills `returns` in SQL, in batches: realistic business columns and random bytes where the
 * ciphertexts go (the feed never reads them, but they make the rows as wide as real ones). Two returns
 * per subject. Intake through the API (encryption, clocks) is not what this measures.
 */
async function seed(handle: DatabaseHandle, count: number) {
  const batch = 100_000;
  const subjects = Math.ceil(count / 2);
  await handle.sql`
    insert into subjects (email_index, email_index_version)
    select sha256(convert_to('bench-' || g, 'UTF8')), 'v1' from generate_series(1, ${subjects}) as g`;
  await handle.sql`create temporary table bench_subjects as
    select id, row_number() over (order by id) as n from subjects`;
  await handle.sql`create index on bench_subjects (n)`;
  for (let from = 1; from <= count; from += batch) {
    const to = Math.min(count, from + batch - 1);
    await handle.sql`
      insert into returns (id, merchant_id, order_ref, subject_id, status, method, refund_method,
        delivered_at, notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area,
        country, customer_name_enc, customer_email_enc, customer_phone_enc, address_line1_enc, postal_code_enc,
        city_enc, iban_enc)
      select gen_random_uuid(), 'merchant-' || (g % 7), 'ORD-' || g, s.id,
        (array['created', 'dispatched', 'received', 'refunded'])[1 + g % 4],
        (array['mailbox', 'post_office', 'pickup_point'])[1 + g % 3],
        (array['original_payment', 'bank_transfer'])[1 + g % 2],
        now() - (g % 400) * interval '1 day', now() - (g % 400 - 2) * interval '1 day',
        current_date + 14, current_date + 28,
        jsonb_build_array(
          jsonb_build_object('sku', 'SKU-' || (g % 5000), 'quantity', 1 + g % 3, 'unitPriceCents', 500 + g % 9000,
            'reason', 'too_small'),
          jsonb_build_object('sku', 'SKU-' || (g % 777), 'quantity', 1, 'unitPriceCents', 1990, 'reason', 'damaged')),
        (1 + g % 3) * (500 + g % 9000) + 1990, lpad((1 + g % 95)::text, 2, '0'), 'FR',
        sha512(convert_to('n' || g, 'UTF8')), sha512(convert_to('e' || g, 'UTF8')),
        sha256(convert_to('p' || g, 'UTF8')), sha512(convert_to('a' || g, 'UTF8')),
        sha256(convert_to('z' || g, 'UTF8')), sha256(convert_to('c' || g, 'UTF8')),
        sha512(convert_to('i' || g, 'UTF8'))
      from generate_series(${from}::int, ${to}::int) as g
      join bench_subjects s on s.n = 1 + (g - 1) / 2`;
    process.stderr.write(`\rseeded ${to.toLocaleString('en')} / ${count.toLocaleString('en')}`);
  }
  process.stderr.write('\n');
  await handle.sql`analyze returns`;
}

/** Samples the process's resident set size while `work` runs. */
async function withPeakRss<T>(
  work: () => Promise<T>,
): Promise<{ result: T; startMb: number; peakMb: number }> {
  const mb = () => process.memoryUsage().rss / 1024 / 1024;
  const startMb = mb();
  let peakMb = startMb;
  const timer = setInterval(() => {
    peakMb = Math.max(peakMb, mb());
  }, 50);
  try {
    const result = await work();
    return { result, startMb, peakMb: Math.max(peakMb, mb()) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * The baseline: a raw keyset SELECT of the same rows and the same business columns, as typed columns
 * decoded by the driver (dates generalised by week as the analytics recipient gets them), page after
 * page; no pseudonyms, no JSON, no register, no HTTP.
 */
async function rawSelect(handle: DatabaseHandle, page: number): Promise<number> {
  let after = { xid: '0', seq: '0' };
  let total = 0;
  for (;;) {
    const rows = await handle.sql<{ xid: string; seq: string }[]>`
      select r.id, r.subject_id, r.merchant_id, r.status, r.method, r.refund_method, r.postal_area, r.country,
        to_char(r.delivered_at at time zone 'Europe/Paris', 'IYYY-"W"IW') as delivered_at,
        to_char(r.notified_at at time zone 'Europe/Paris', 'IYYY-"W"IW') as notified_at,
        to_char(r.created_at at time zone 'Europe/Paris', 'IYYY-"W"IW') as created_at,
        to_char(r.updated_at at time zone 'Europe/Paris', 'IYYY-"W"IW') as updated_at,
        r.items, r.total_cents::float8, r.refunded_cents::float8, r.erased_at is not null as erased,
        r.feed_xid::text as xid, r.feed_seq::text as seq
      from returns r
      where (r.feed_xid, r.feed_seq) > (${after.xid}::xid8, ${after.seq}::bigint)
      order by r.feed_xid, r.feed_seq
      limit ${page}`;
    const last = rows.at(-1);
    if (!last) return total;
    total += rows.length;
    after = { xid: last.xid, seq: last.seq };
  }
}

/**
 * The recipient: a worker thread with its own event loop, so parsing pages does not compete with the
 * server for the main thread (a real recipient is another machine). Plain JS: no loader needed.
 */
const recipientSource = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { baseUrl, token, page } = workerData;
  let after;
  let total = 0;
  for (;;) {
    const url = new URL('/v1/pseudonymized/returns', baseUrl);
    url.searchParams.set('limit', String(page));
    if (after) url.searchParams.set('after', after);
    const response = await fetch(url, { headers: { authorization: 'Bearer ' + token } });
    if (response.status !== 200) throw new Error('feed answered ' + response.status + ': ' + (await response.text()));
    const body = await response.json();
    if (body.items.length === 0) break;
    total += body.items.length;
    after = body.next;
    if (total % (page * 50) === 0) parentPort.postMessage({ progress: total });
  }
  parentPort.postMessage({ total });
})().catch((error) => parentPort.postMessage({ error: String(error) }));
`;

async function fullSync(
  baseUrl: string,
  token: string,
  page: number,
  checkpoints: string[],
): Promise<number> {
  const worker = new Worker(recipientSource, { eval: true, workerData: { baseUrl, token, page } });
  try {
    return await new Promise<number>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (message: { progress?: number; total?: number; error?: string }) => {
        if (message.error) reject(new Error(message.error));
        else if (message.total !== undefined) resolve(message.total);
        else {
          const { rss, heapUsed } = process.memoryUsage();
          checkpoints.push(`${Math.round(rss / 1024 / 1024)}/${Math.round(heapUsed / 1024 / 1024)}`);
        }
      });
    });
  } finally {
    await worker.terminate();
  }
}

export async function run(args: string[]) {
  const options = parseOptions(args);
  const database = await openBenchDatabase(4);
  const { handle } = database;
  try {
    await applyMigrations(handle);
    const [{ count } = { count: 0 }] = await handle.sql<
      { count: number }[]
    >`select count(*)::int as count from returns`;
    if (count === 0) {
      const started = performance.now();
      await seed(handle, options.returns);
      console.error(`seed: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const rows = count || options.returns;

    const config = benchConfig();
    const policies = loadPolicies(config.policiesDir);
    const analytics = policies.recipients.find((recipient) => recipient.id === 'analytics')!;
    // The shipped analytics projection, without its request budget: the bench is one long sync.
    policies.recipients.push({ ...analytics, id: 'bench', rateLimit: { max: 1_000_000, windowSeconds: 60 } });
    const { app, baseUrl } = await listenInProcess(config, policies, handle);
    const token = await mintToken(config.jwt, { role: 'backend', clientId: 'bench', ttlSeconds: 3600 });

    await rawSelect(handle, options.page); // warms the cache for both runs
    const rawStarted = performance.now();
    const rawCount = await rawSelect(handle, options.page);
    const rawSeconds = (performance.now() - rawStarted) / 1000;

    const checkpoints: string[] = [];
    const feedStarted = performance.now();
    const loopBefore = performance.eventLoopUtilization();
    const cpuBefore = process.cpuUsage();
    const {
      result: feedCount,
      startMb,
      peakMb,
    } = await withPeakRss(() => fullSync(baseUrl, token, options.page, checkpoints));
    const feedSeconds = (performance.now() - feedStarted) / 1000;
    const loop = performance.eventLoopUtilization(loopBefore);
    const cpu = process.cpuUsage(cpuBefore);
    const pages = feedCount / options.page;
    await app.close();
    // What the sync left to fold into the register (the folder does it once the feed is quiet), timed.
    const foldStarted = performance.now();
    let foldedPages = 0;
    for (let folded = -1; folded !== 0; foldedPages += folded)
      folded = await foldDisclosureLog(handle.db, 50);
    const foldSeconds = (performance.now() - foldStarted) / 1000;

    const rawRate = rawCount / rawSeconds;
    const feedRate = feedCount / feedSeconds;
    const lines = [
      `returns in table:        ${rows.toLocaleString('en')}`,
      `page size:               ${options.page}`,
      `raw SELECT:              ${rawCount.toLocaleString('en')} rows in ${rawSeconds.toFixed(1)} s = ${Math.round(rawRate).toLocaleString('en')} rows/s`,
      `feed (HTTP, full sync):  ${feedCount.toLocaleString('en')} items in ${feedSeconds.toFixed(1)} s = ${Math.round(feedRate).toLocaleString('en')} items/s`,
      `feed / raw:              ${(feedRate / rawRate).toFixed(2)}`,
      `server CPU per page:     event loop ${(loop.active / pages).toFixed(1)} ms (busy ${Math.round(loop.utilization * 100)}%), process ${((cpu.user + cpu.system) / 1000 / pages).toFixed(1)} ms incl. the recipient's thread`,
      `register fold after it:  ${foldedPages} logged pages in ${foldSeconds.toFixed(1)} s (not part of the sync's time)`,
      `RSS during sync:         start ${Math.round(startMb)} MB, peak ${Math.round(peakMb)} MB, every ${options.page * 50} items (RSS/heap): ${checkpoints.join(' ')} MB`,
    ];
    console.log(lines.join('\n'));
    if (feedCount !== rawCount) throw new Error(`the feed returned ${feedCount} items for ${rawCount} rows`);
  } finally {
    await database.stop();
  }
}
