import { mintToken } from '../src/auth/mint-token';
import type { DatabaseHandle } from '../src/db/database';
import { applyMigrations } from '../src/db/migrations';
import { loadPolicies, type Policies } from '../src/policies/load-policies';
import { createPseudonymKeys } from '../src/pseudonymization/pseudonyms';
import { defaultLanes, runRetention } from '../src/retention/retention-engine';
import { type SeedDependencies, seedReturns } from '../src/returns/seed-returns';
import { benchConfig, openBenchDatabase } from './bench-database';
import { listenInProcess } from './bench-server';

/*
 * `npm run bench -- retention [--returns N] [--batch N] [--lanes N] [--seconds N] [--connections N]`: seeds N returns
 * (10,000 with the returns module's seed, one subject each, the rest copies of those in SQL) closed
 * 5 years and 2 months ago, then measures
 *  - the contact-erasure sweep (the `contact-erase` rule alone, through the real engine and erasure
 *    module: columns nulled, `erased_at` set, subject keys shredded, audited per batch), in returns/s;
 *  - create-return latency (POST /v1/returns over HTTP, real encryption) without and during the sweep.
 * Uses BENCH_DATABASE_URL when set (a database it may fill), else a throw-away embedded PostgreSQL.
 */

interface Options {
  returns: number;
  batch: number;
  lanes: number;
  seconds: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    returns: 1_000_000,
    batch: 500,
    lanes: defaultLanes,
    seconds: 20,
    connections: 8,
  };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    const key = args[i]?.replace(/^--/, '');
    if (key === 'returns' || key === 'batch' || key === 'lanes' || key === 'seconds' || key === 'connections')
      options[key] = value;
    else
      throw new Error(
        `unknown option ${args[i]} (use --returns, --batch, --lanes, --seconds, --connections)`,
      );
  }
  return options;
}

/** Returns seeded with real encryption; the rest are copies of them in SQL (see `copyReturns`). */
const encryptedSeed = 10_000;

/**
 * A time-ordered (version 7) UUID in SQL, as `timeOrderedUuid` makes them in the service: a random
 * UUID whose first 48 bits are replaced by the clock in milliseconds, with its version nibble (bits 52
 * to 55 of the bytea, numbered from bit 0 of each byte) moved from 4 (0100) to 7 (0111). PostgreSQL
 * 18's `uuidv7()` would do, but BENCH_DATABASE_URL may name an older server.
 */
const timeOrderedUuidSql = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
  placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6),
  52, 1), 53, 1), 'hex')::uuid`;
/**
 * Returns through the returns module's seed (real ciphertexts under real wrapped keys, one subject
 * each), then closed 5 years and 2 months ago: a `closed` event of that date and the status. Beyond
 * `encryptedSeed`, the seeded rows are copied.
 */
async function seed(handle: DatabaseHandle, deps: Omit<SeedDependencies, 'db'>, count: number) {
  const encrypted = Math.min(count, encryptedSeed);
  await seedReturns(
    { ...deps, db: handle.db },
    {
      count: encrypted,
      onProgress: (done) =>
        process.stderr.write(`\rseeded ${done.toLocaleString('en')} / ${count.toLocaleString('en')}`),
    },
  );
  await handle.sql`
    insert into return_events (id, return_id, type, origin, occurred_at, dedupe_key)
    select ${handle.sql.unsafe(timeOrderedUuidSql)}, id, 'closed', 'merchant',
      now() - interval '5 years 2 months', 'bench-closed-' || id
    from returns order by id`;
  await handle.sql`update returns set status = 'closed'`;
  await copyReturns(handle, encrypted, count);
  process.stderr.write('\n');
  // Returns closed five years ago have long been vacuumed: their rows are marked committed and
  // visible to all, which the sweep would otherwise do as it goes (one more write per page). Their
  // pages are written out now, not by a checkpoint in the middle of the sweep, which would then log
  // every page it touches whole once more. A role that may not checkpoint only skips that.
  await handle.sql`vacuum analyze`;
  await handle.sql`checkpoint`.catch((error: Error) =>
    console.error(`checkpoint skipped (${error.message}): the sweep may pay for the seed's pages`),
  );
}

/**
 * Fills up to `count` returns with copies of the `encrypted` seeded ones, in SQL: each copy gets a
 * subject of its own, copies of its source's data keys, the same row (same ciphertext sizes, the
 * erasure never decrypts) and copies of its events. What the sweep does per return is the same, and
 * 1,000,000 returns take minutes instead of the hours real encryption takes on this machine.
 */
async function copyReturns(handle: DatabaseHandle, encrypted: number, count: number) {
  if (count <= encrypted) return;
  const columnsOf = async (table: string, skip: string[]) =>
    (
      await handle.sql<{ name: string }[]>`
        select column_name as name from information_schema.columns
        where table_schema = 'public' and table_name = ${table} order by ordinal_position`
    )
      .map((row) => row.name)
      .filter((name) => !skip.includes(name));
  const returnColumns = await columnsOf('returns', ['id', 'subject_id', 'order_ref', 'feed_xid', 'feed_seq']);
  const eventColumns = await columnsOf('return_events', ['id', 'return_id', 'dedupe_key', 'arrival']);
  const list = (columns: string[], alias: string) => columns.map((name) => `${alias}."${name}"`).join(', ');
  const plain = (columns: string[]) => columns.map((name) => `"${name}"`).join(', ');
  await handle.sql`
    create table retention_bench_source as
    select (row_number() over (order by id) - 1)::int as n, id, subject_id from returns`;
  await handle.sql`alter table retention_bench_source add primary key (n)`;
  const chunk = 50_000;
  for (let from = encrypted; from < count; from += chunk) {
    const to = Math.min(count, from + chunk);
    await handle.sql.unsafe(
      `with pick as (
        select g, s.id as source_id, s.subject_id as source_subject,
          ${timeOrderedUuidSql} as return_id, ${timeOrderedUuidSql} as subject_id
        from generate_series($1::int, $2::int - 1) as g
        join retention_bench_source s on s.n = g % $3::int
      ), new_subjects as (
        insert into subjects (id, email_index, email_index_version)
        select subject_id, sha256(convert_to('retention-bench-' || g, 'UTF8')), 'v1' from pick order by g
        returning 1
      ), new_keys as (
        insert into subject_data_keys (subject_id, data_class, wrapped_key, kek_version)
        select p.subject_id, k.data_class, k.wrapped_key, k.kek_version
        from pick p join subject_data_keys k on k.subject_id = p.source_subject order by p.g returning 1
      ), new_returns as (
        insert into returns (id, subject_id, order_ref, ${plain(returnColumns)})
        select p.return_id, p.subject_id, r.order_ref || '-copy-' || p.g, ${list(returnColumns, 'r')}
        from pick p join returns r on r.id = p.source_id order by p.g returning 1
      )
      insert into return_events (id, return_id, dedupe_key, ${plain(eventColumns)})
      select ${timeOrderedUuidSql}, p.return_id, e.dedupe_key || '-copy-' || p.g, ${list(eventColumns, 'e')}
      from pick p join return_events e on e.return_id = p.source_id order by p.g, e.arrival`,
      [from, to, encrypted],
    );
    process.stderr.write(`\rseeded ${to.toLocaleString('en')} / ${count.toLocaleString('en')}`);
  }
  await handle.sql`drop table retention_bench_source`;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Closed-loop load: `connections` clients each POST /v1/returns back to back until `until()` says stop. */
export async function createReturnLoad(
  baseUrl: string,
  token: string,
  connections: number,
  until: () => boolean,
) {
  const latencies: number[] = [];
  let errors = 0;
  let sequence = 0;
  const client = async () => {
    while (!until()) {
      sequence += 1;
      const now = Date.now();
      const body = JSON.stringify({
        merchantId: 'merchant-bench',
        orderRef: `BENCH-${process.pid}-${sequence}`,
        deliveredAt: new Date(now - 2 * 86_400_000).toISOString(),
        notifiedAt: new Date(now - 86_400_000).toISOString(),
        customer: {
          name: 'Camille Bench',
          email: `camille.${sequence % 5000}@example.org`,
          phone: '+33612345678',
          address: { line1: '5 avenue Foch', postalCode: '69006', city: 'Lyon', country: 'FR' },
        },
        items: [{ sku: 'SKU-B', quantity: 1, unitPriceCents: 4999, reason: 'too_small' }],
        method: 'post_office',
        refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
      });
      const started = performance.now();
      const response = await fetch(`${baseUrl}/v1/returns`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      await response.arrayBuffer();
      if (response.status === 201) latencies.push(performance.now() - started);
      else errors += 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Only the contact-erasure rule, so the sweep measures that and nothing else. */
function contactEraseOnly(policies: Policies): Policies {
  const rule = policies.retention.rules.find((candidate) => candidate.id === 'contact-erase');
  if (!rule) throw new Error('policies/retention.yaml has no contact-erase rule');
  return { ...policies, retention: { rules: [rule] } };
}

export async function run(args: string[]) {
  const options = parseOptions(args);
  const database = await openBenchDatabase(12);
  const { handle } = database;
  try {
    await applyMigrations(handle);
    const config = benchConfig();
    const policies = loadPolicies(config.policiesDir);
    const [{ due } = { due: 0 }] = await handle.sql<{ due: number }[]>`
      select count(*)::int as due from returns where status = 'closed' and erased_at is null`;
    if (due === 0) {
      const started = performance.now();
      const seedDeps = {
        masterKeys: config.masterKeys,
        blindIndexKeys: config.blindIndexKeys,
        rules: policies.returnRules,
      };
      await seed(handle, seedDeps, options.returns);
      console.error(`seed: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const { app, baseUrl } = await listenInProcess(config, policies, handle);
    const token = await mintToken(config.jwt, { role: 'merchant', ttlSeconds: 3600 });

    const warmEnd = Date.now() + 3000;
    await createReturnLoad(baseUrl, token, options.connections, () => Date.now() > warmEnd);
    const baselineEnd = Date.now() + options.seconds * 1000;
    const baseline = await createReturnLoad(
      baseUrl,
      token,
      options.connections,
      () => Date.now() > baselineEnd,
    );

    const [{ toErase } = { toErase: 0 }] = await handle.sql<{ toErase: number }[]>`
      select count(*)::int as "toErase" from returns where status = 'closed' and erased_at is null`;
    let sweepDone = false;
    const sweepStarted = performance.now();
    let lastReport = 0;
    let handledNow = 0;
    const sweep = runRetention(
      {
        database: handle,
        policies: contactEraseOnly(policies),
        pseudonymsOf: createPseudonymKeys(config.pseudonymSecret),
        signer: app.signer,
      },
      {
        batchSize: options.batch,
        lanes: options.lanes,
        trigger: 'cli',
        onProgress: (progress) => {
          handledNow = progress.ruleHandled;
          if (progress.ruleHandled - lastReport >= 50_000) {
            lastReport = progress.ruleHandled;
            const seconds = (performance.now() - sweepStarted) / 1000;
            process.stderr.write(
              `\rswept ${progress.ruleHandled.toLocaleString('en')} / ${progress.ruleDue.toLocaleString('en')} (${Math.round(progress.ruleHandled / seconds)} /s)`,
            );
          }
        },
      },
    ).finally(() => {
      sweepDone = true;
    });
    const duringEnd = Date.now() + options.seconds * 1000;
    const during = await createReturnLoad(
      baseUrl,
      token,
      options.connections,
      () => sweepDone || Date.now() > duringEnd,
    );
    // What the sweep did while requests came in (extra lanes wait then), and alone after.
    const underLoad = { handled: handledNow, seconds: (performance.now() - sweepStarted) / 1000 };
    const summary = await sweep;
    const sweepSeconds = (performance.now() - sweepStarted) / 1000;
    process.stderr.write('\n');
    await app.close();

    const erased = summary!.totals.done;
    const lines = [
      `closed returns due:        ${toErase.toLocaleString('en')} (batch ${options.batch}, ${options.lanes} lanes)`,
      `contact-erasure sweep:     ${erased.toLocaleString('en')} returns in ${sweepSeconds.toFixed(1)} s = ${Math.round(erased / sweepSeconds).toLocaleString('en')} returns/s (goal >= 5,000)`,
      `  while intake ran:        ${underLoad.handled.toLocaleString('en')} returns in ${underLoad.seconds.toFixed(1)} s = ${Math.round(underLoad.handled / underLoad.seconds).toLocaleString('en')} returns/s; alone after: ${Math.round((erased - underLoad.handled) / Math.max(sweepSeconds - underLoad.seconds, 0.001)).toLocaleString('en')} returns/s`,
      `create-return, no sweep:   ${baseline.count} requests, p50 ${baseline.p50.toFixed(1)} ms, p99 ${baseline.p99.toFixed(1)} ms, ${baseline.errors} errors (${options.connections} connections)`,
      `create-return, sweeping:   ${during.count} requests, p50 ${during.p50.toFixed(1)} ms, p99 ${during.p99.toFixed(1)} ms, ${during.errors} errors`,
      `p99 during / without:      ${(during.p99 / baseline.p99).toFixed(2)} (goal <= 2)`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await database.stop();
  }
}
