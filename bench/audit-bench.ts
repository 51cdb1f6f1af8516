import { get } from 'node:http';
import { recordAuditEvent } from '../src/audit/record-audit-event';
import { runSequencerOnce } from '../src/audit/sequencer';
import { mintToken } from '../src/auth/mint-token';
import { resolveAppConfig } from '../src/config/app-config';
import type { DatabaseHandle } from '../src/db/database';
import { applyMigrations } from '../src/db/migrations';
import { createSigner } from '../src/signing/signing-key';
import { benchSecrets, openBenchDatabase } from './bench-database';
import { startBundledService } from './bench-server';
import { createReturnLoad } from './retention-bench';

/*
 * `npm run bench -- audit [--events N] [--rate N] [--seconds N]`:
 * - sequencing: N events seeded in SQL, then positioned, hashed and signed by the sequencer;
 * - export: the same N events through GET /v1/audit/events?format=ndjson and /v1/audit/export of the
 *   real server in its own process, with that process's peak RSS;
 * - lag: events written at --rate per second for --seconds while the server's sequencer runs every
 *   second, then the time from each event's write to the first signed checkpoint covering it;
 * - create-return throughput (POST /v1/returns, --connections clients, --seconds per round, two rounds
 *   each) with auditing on (events written, sequencer running) and off: a bench-only trigger drops
 *   audit rows, so "off" still pays the INSERT round trip and the ratio slightly flatters auditing.
 * Uses BENCH_DATABASE_URL when set (a database it may fill), else a throw-away embedded PostgreSQL.
 */

interface Options {
  events: number;
  rate: number;
  seconds: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { events: 1_000_000, rate: 1000, seconds: 20, connections: 8 };
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]?.replace(/^--/, '') as keyof Options;
    const value = Number(args[i + 1]);
    if (!(name in options))
      throw new Error(`unknown option ${args[i]} (use --events, --rate, --seconds, --connections)`);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    options[name] = value;
  }
  return options;
}

/** Audit events shaped like real ones (ids, codes, a subject reference), 100,000 per statement. */
async function seed(handle: DatabaseHandle, count: number) {
  for (let from = 1; from <= count; from += 100_000) {
    const to = Math.min(count, from + 99_999);
    await handle.sql`
      insert into audit_events (actor, actor_scopes, client_id, action, target_type, target_id, subject_ref,
        purpose, outcome, request_id, details)
      select 'svc-' || (g % 50), array['returns:write'], 'merchant-' || (g % 7), 'return.created', 'return',
        gen_random_uuid()::text, gen_random_uuid()::text, null, 'success', 'req-' || g,
        jsonb_build_object('status', 'created', 'items', 1 + g % 3)
      from generate_series(${from}::int, ${to}::int) as g`;
    process.stderr.write(`\rseeded ${to.toLocaleString('en')} / ${count.toLocaleString('en')}`);
  }
  process.stderr.write('\n');
  await handle.sql`analyze audit_events`;
}

/**
 * Reads a streamed response to the end, counting bytes and newlines; never holds the body. The client
 * shares the CPU with the server it measures, so it is kept light: node:http rather than fetch (its web
 * streams cost about as much CPU as the server spent), newlines counted by Buffer.indexOf.
 */
function drain(url: string, token: string): Promise<{ bytes: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${url} answered ${response.statusCode}`));
        return;
      }
      let bytes = 0;
      let lines = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      });
      response.on('end', () => resolve({ bytes, lines }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** Writes events at the target rate while the server's sequencer runs; lag = write to signed checkpoint. */
async function measureLag(handle: DatabaseHandle, options: Options): Promise<string> {
  const [{ base } = { base: 0 }] = await handle.sql<{ base: number }[]>`
    select coalesce(max(id), 0)::int8::int as base from audit_events`;
  const total = options.rate * options.seconds;
  const started = performance.now();
  let written = 0;
  // Ten writers, each its own transaction per event, paced to the target rate.
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (written < total) {
        const due = started + (written / options.rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        written++;
        await recordAuditEvent(
          handle.db,
          {},
          { action: 'bench.lag', outcome: 'success', targetType: 'bench' },
        );
      }
    }),
  );
  const writeSeconds = (performance.now() - started) / 1000;
  for (const giveUp = Date.now() + 120_000; ; ) {
    if (Date.now() > giveUp) throw new Error('events still unsequenced two minutes after the writes');
    const [pending] = await handle.sql`
      select count(*)::int as n from audit_events e
       where e.id > ${base} and not exists (select 1 from audit_log_entries l where l.audit_event_id = e.id)`;
    if (pending?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const lags = await handle.sql<{ lag: number }[]>`
    select extract(epoch from (
      (select min(c.signed_at) from audit_checkpoints c where c.tree_size > l.position) - e.occurred_at)) * 1000 as lag
      from audit_events e join audit_log_entries l on l.audit_event_id = e.id
     where e.id > ${base} order by 1`;
  const values = lags.map((row) => Number(row.lag));
  const at = (q: number) =>
    Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0);
  return `checkpoint lag:          ${values.length.toLocaleString('en')} events at ${Math.round(
    values.length / writeSeconds,
  ).toLocaleString('en')}/s: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

/** Alternating rounds with auditing off and on, so a drift in machine load hits both alike. */
async function compareCreateReturn(handle: DatabaseHandle, baseUrl: string, token: string, options: Options) {
  const round = async () => {
    const end = Date.now() + options.seconds * 1000;
    const result = await createReturnLoad(baseUrl, token, options.connections, () => Date.now() > end);
    if (result.errors > 0) throw new Error(`create-return answered ${result.errors} errors`);
    return result.count / options.seconds;
  };
  await handle.sql`create or replace function bench_drop_audit_row() returns trigger language plpgsql as $$
    begin return null; end; $$`;
  const setAuditing = (on: boolean) =>
    on
      ? handle.sql`drop trigger if exists bench_audit_off on audit_events`
      : handle.sql`create trigger bench_audit_off before insert on audit_events for each row execute function bench_drop_audit_row()`;
  await createReturnLoad(
    baseUrl,
    token,
    options.connections,
    (() => {
      const end = Date.now() + 3000;
      return () => Date.now() > end;
    })(),
  );
  const rates = { on: [] as number[], off: [] as number[] };
  for (const mode of ['off', 'on', 'off', 'on'] as const) {
    await setAuditing(mode === 'on');
    rates[mode].push(await round());
  }
  await setAuditing(true);
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return `create-return:           auditing off ${mean(rates.off).toFixed(0)}/s, on ${mean(rates.on).toFixed(0)}/s, on/off ${(
    mean(rates.on) / mean(rates.off)
  ).toFixed(2)} (${options.connections} connections, 2 x ${options.seconds} s each)`;
}

export async function run(args: string[]) {
  const options = parseOptions(args);
  const database = await openBenchDatabase(20);
  const { handle } = database;
  try {
    await applyMigrations(handle);
    const env = { NODE_ENV: 'test', DATABASE_URL: handle.url, ...benchSecrets() };
    const config = resolveAppConfig(env);
    const signer = await createSigner(config.signingKeyPem);
    const token = await mintToken(config.jwt, { role: 'auditor', ttlSeconds: 7200 });
    // Each figure goes to stderr as soon as it is known, then all of them to stdout at the end.
    const lines: string[] = [];
    const report = (line: string) => {
      lines.push(line);
      console.error(line);
    };

    const [{ count } = { count: 0 }] = await handle.sql<{ count: number }[]>`
      select count(*)::int as count from audit_events`;
    if (count < options.events) await seed(handle, options.events - count);

    const sequencingStarted = performance.now();
    const sequenced = await runSequencerOnce(handle, signer);
    const sequencingSeconds = (performance.now() - sequencingStarted) / 1000;
    report(
      `sequencing:              ${sequenced.sequenced.toLocaleString('en')} events in ${sequencingSeconds.toFixed(1)} s = ${Math.round(
        sequenced.sequenced / sequencingSeconds,
      ).toLocaleString('en')} events/s (tree size ${sequenced.treeSize.toLocaleString('en')})`,
    );

    const server = await startBundledService(env);
    try {
      report(`server RSS when ready:   ${Math.round(server.peakRssMb())} MB`);
      for (const [name, url] of [
        ['NDJSON export', `${server.baseUrl}/v1/audit/events?format=ndjson`],
        ['bundle export', `${server.baseUrl}/v1/audit/export`],
      ] as const) {
        const started = performance.now();
        const result = await drain(url, token);
        const seconds = (performance.now() - started) / 1000;
        const events = name === 'NDJSON export' ? result.lines : sequenced.treeSize;
        report(
          `${`${name}:`.padEnd(24)} ${events.toLocaleString('en')} events, ${Math.round(result.bytes / 1024 / 1024)} MB in ${seconds.toFixed(1)} s = ${Math.round(
            events / seconds,
          ).toLocaleString('en')} events/s, server peak RSS so far ${Math.round(server.peakRssMb())} MB`,
        );
      }
      report(await measureLag(handle, options));
      report(
        await compareCreateReturn(
          handle,
          server.baseUrl,
          await mintToken(config.jwt, { role: 'merchant', ttlSeconds: 7200 }),
          options,
        ),
      );
    } finally {
      await server.stop();
    }
    console.log(lines.join('\n'));
  } finally {
    await database.stop();
  }
}
