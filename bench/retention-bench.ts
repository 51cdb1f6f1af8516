import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app';
import { mintToken } from '../src/auth/mint-token';
import { resolveAppConfig } from '../src/config/app-config';
import { type DatabaseHandle, openDatabase } from '../src/db/database';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { applyMigrations } from '../src/db/migrations';
import { loadPolicies, type Policies } from '../src/policies/load-policies';
import { runRetention } from '../src/retention/retention-engine';
import { createSigner } from '../src/signing/signing-key';

/*
 * `npm run bench -- retention [--returns N] [--batch N] [--seconds N] [--connections N]`: seeds N closed
 * returns (two per subject, closed 5 years and 2 months ago), then measures
 *  - the contact-erasure sweep (the `contact-erase` rule alone, through the real engine and erasure
 *    module: columns nulled, `erased_at` set, subject keys shredded, audited per batch), in returns/s;
 *  - create-return latency (POST /v1/returns over HTTP, real encryption) without and during the sweep.
 * Uses BENCH_DATABASE_URL when set (a database it may fill), else a throw-away embedded PostgreSQL.
 */

interface Options {
  returns: number;
  batch: number;
  seconds: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { returns: 1_000_000, batch: 500, seconds: 20, connections: 8 };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    const key = args[i]?.replace(/^--/, '');
    if (key === 'returns' || key === 'batch' || key === 'seconds' || key === 'connections')
      options[key] = value;
    else throw new Error(`unknown option ${args[i]} (use --returns, --batch, --seconds, --connections)`);
  }
  return options;
}

async function openBenchDatabase(): Promise<{ handle: DatabaseHandle; stop(): Promise<void> }> {
  if (process.env.BENCH_DATABASE_URL) {
    const handle = openDatabase(process.env.BENCH_DATABASE_URL, { maxConnections: 12 });
    return { handle, stop: () => handle.close() };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'returnvault-retention-bench-'));
  const cluster = await startEmbeddedPostgres(dir, { persistent: false });
  const handle = openDatabase(cluster.url, { maxConnections: 12 });
  return {
    handle,
    stop: async () => {
      await handle.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Closed returns in SQL, in batches: business columns in clear, random bytes where ciphertexts and
 * wrapped keys go (the sweep nulls and shreds them, it never decrypts), one `closed` event each.
 */
async function seed(handle: DatabaseHandle, count: number) {
  const batch = 50_000;
  const subjects = Math.ceil(count / 2);
  await handle.sql`
    insert into subjects (email_index, email_index_version)
    select sha256(convert_to('retention-bench-' || g, 'UTF8')), 'v1' from generate_series(1, ${subjects}) as g`;
  await handle.sql`
    insert into subject_data_keys (subject_id, data_class, wrapped_key, kek_version)
    select s.id, c, sha512(convert_to(s.id::text || c, 'UTF8')), 'v1'
    from subjects s cross join (values ('contact'), ('payment')) as classes(c)`;
  await handle.sql`create temporary table bench_subjects as
    select id, row_number() over (order by id) as n from subjects`;
  await handle.sql`create index on bench_subjects (n)`;
  for (let from = 1; from <= count; from += batch) {
    const to = Math.min(count, from + batch - 1);
    await handle.sql`
      with created as (
        insert into returns (id, merchant_id, order_ref, subject_id, status, method, refund_method,
          delivered_at, notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area,
          country, customer_name_enc, customer_email_enc, customer_phone_enc, address_line1_enc,
          postal_code_enc, city_enc)
        select gen_random_uuid(), 'merchant-' || (g % 7), 'ORD-' || g, s.id, 'closed', 'post_office',
          'original_payment', now() - interval '5 years 4 months', now() - interval '5 years 4 months',
          current_date, current_date,
          jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 5000), 'quantity', 1,
            'unitPriceCents', 500 + g % 9000, 'reason', 'too_small')),
          500 + g % 9000, lpad((1 + g % 95)::text, 2, '0'), 'FR',
          sha512(convert_to('n' || g, 'UTF8')), sha512(convert_to('e' || g, 'UTF8')),
          sha256(convert_to('p' || g, 'UTF8')), sha512(convert_to('a' || g, 'UTF8')),
          sha256(convert_to('z' || g, 'UTF8')), sha256(convert_to('c' || g, 'UTF8'))
        from generate_series(${from}::int, ${to}::int) as g
        join bench_subjects s on s.n = 1 + (g - 1) / 2
        returning id
      )
      insert into return_events (id, return_id, type, origin, occurred_at, dedupe_key)
      select gen_random_uuid(), id, 'closed', 'merchant', now() - interval '5 years 2 months', 'bench-closed-' || id
      from created`;
    process.stderr.write(`\rseeded ${to.toLocaleString('en')} / ${count.toLocaleString('en')}`);
  }
  process.stderr.write('\n');
  await handle.sql`analyze`;
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
  const database = await openBenchDatabase();
  const { handle } = database;
  try {
    await applyMigrations(handle);
    const [{ due } = { due: 0 }] = await handle.sql<{ due: number }[]>`
      select count(*)::int as due from returns where status = 'closed' and erased_at is null`;
    if (due === 0) {
      const started = performance.now();
      await seed(handle, options.returns);
      console.error(`seed: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const config = resolveAppConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
      BLIND_INDEX_KEYS: `v1:${randomBytes(32).toString('base64')}`,
      PSEUDONYM_SECRET: randomBytes(32).toString('base64'),
      SIGNING_KEY: generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    });
    const policies = loadPolicies(config.policiesDir);
    const app = await buildApp({
      config,
      policies,
      database: handle,
      signer: await createSigner(config.signingKeyPem),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
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
    const sweep = runRetention(
      { database: handle, policies: contactEraseOnly(policies) },
      {
        batchSize: options.batch,
        trigger: 'cli',
        onProgress: (progress) => {
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
    const summary = await sweep;
    const sweepSeconds = (performance.now() - sweepStarted) / 1000;
    process.stderr.write('\n');
    await app.close();

    const erased = summary!.totals.done;
    const lines = [
      `closed returns due:        ${toErase.toLocaleString('en')} (batch ${options.batch})`,
      `contact-erasure sweep:     ${erased.toLocaleString('en')} returns in ${sweepSeconds.toFixed(1)} s = ${Math.round(erased / sweepSeconds).toLocaleString('en')} returns/s (goal >= 5,000)`,
      `create-return, no sweep:   ${baseline.count} requests, p50 ${baseline.p50.toFixed(1)} ms, p99 ${baseline.p99.toFixed(1)} ms, ${baseline.errors} errors (${options.connections} connections)`,
      `create-return, sweeping:   ${during.count} requests, p50 ${during.p50.toFixed(1)} ms, p99 ${during.p99.toFixed(1)} ms, ${during.errors} errors`,
      `p99 during / without:      ${(during.p99 / baseline.p99).toFixed(2)} (goal <= 2)`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await database.stop();
  }
}
